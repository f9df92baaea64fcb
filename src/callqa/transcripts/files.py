"""Finding input files below folders, the same way for every command."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def files_under(folder: Path, accept: Callable[[str], bool]) -> list[Path]:
    """Files below `folder`, recursively and sorted, whose name `accept`s; hidden files and folders
    (.git, .venv, …) are skipped."""
    found: list[Path] = []
    for parent, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(parent) / name for name in sorted(names) if not name.startswith(".") and accept(name))
    return found
