"""Where the database is: --db, else $CALLQA_DB, else a SQLite file in the user's data folder."""

from __future__ import annotations

import os
from pathlib import Path

from callqa.errors import StoreError


def database_url(given: str | None = None) -> str:
    """A SQLAlchemy URL for `given` (a URL, a SQLite file's path, or "default"), else $CALLQA_DB, else
    "default": callqa.db in the user's data folder (~/.local/share/callqa/ on Linux). Raises
    StoreError for a value that names no database: empty, a folder, or SQLite in memory (which would
    keep nothing)."""
    value = given if given is not None else os.environ.get("CALLQA_DB") or "default"
    value = value.strip()
    if not value:
        raise StoreError(None, "--db needs a database: a URL, a SQLite file or 'default'")
    if value == "default":
        import platformdirs  # only the commands that store or look back need it

        folder = Path(platformdirs.user_data_dir("callqa", appauthor=False))
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'callqa.db'}"
    if "://" not in value:  # a plain path: a SQLite file
        path = Path(value).expanduser()
        if path.is_dir():
            raise StoreError(str(path), "is a folder, not a database file", hint="e.g. --db scores.db")
        return f"sqlite:///{path.resolve()}"
    if value.startswith("sqlite") and value.split("://", 1)[1] in ("", "/", "/:memory:"):
        raise StoreError(value, "an in-memory database keeps nothing", hint="give a file: sqlite:///scores.db")
    return value
