"""The one error type that reaches the user: it names the file (and line) and says what is wrong."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


class CallqaError(Exception):
    """An error in the user's input or configuration, printed as one line, never as a traceback."""

    def __init__(self, path: str | Path | None, message: str, *, line: int | None = None, hint: str | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"


class InputError(CallqaError):
    """A transcript that cannot be read."""


class RubricError(CallqaError):
    """A rubric that cannot be loaded or does not validate."""


class StoreError(CallqaError):
    """A database that cannot be opened, read or written (named by its URL, password hidden)."""


class ModelError(CallqaError):
    """A trained model file that cannot be loaded: missing, corrupt, or of a format this callqa does not read."""


def bad_model_field(path: str | Path, what: str, field: str, problem: str) -> ModelError:
    """A hand-edited model file's field that scoring cannot use, named: one line, never an error mid-scoring."""
    return ModelError(str(path), f"{what} file has a bad {field}: {problem}", hint="retrain it, or undo the edit")


def found_value(value: object) -> str:
    """How a bad field's value is quoted in its error: as JSON, cut to 40 characters."""
    return f"found {json.dumps(value, ensure_ascii=False)[:40]}"


def is_whole(value: object, least: int) -> bool:
    """A JSON whole number (not true/false, which are ints to Python) of at least `least`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def is_number(value: object, low: float = -math.inf, high: float = math.inf) -> bool:
    """A finite JSON number (not true/false) within [low, high]."""
    return (
        not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) and low <= value <= high
    )


#: The kinds of model file callqa writes, by the prefix of their `format` ("callqa.stage-model/2").
MODEL_KINDS: dict[str, str] = {
    "callqa.stage-model/": "stage model",
    "callqa.forbidden-model/": "forbidden-expression model",
}


def read_model_document(path: str | Path, formats: tuple[str, ...], what: str, retrain: str) -> dict[str, Any]:
    """A trained model's JSON document, its `format` field checked: one ModelError line otherwise.
    `formats` are those this callqa reads, the one it writes first; `what` names the kind of model in
    messages ("stage model"), `retrain` the command that makes one."""
    name = str(path)
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(name, f"no such {what} file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(name, f"not a callqa {what} (not readable JSON: {exc})") from None
    found = document.get("format") if isinstance(document, dict) else None
    if isinstance(document, dict) and found in formats:
        return document
    expected = f"format {found!r}, expected {formats[0]!r}"
    prefix, _, version = formats[0].rpartition("/")
    if isinstance(found, str):
        kind = next((kind for start, kind in MODEL_KINDS.items() if found.startswith(start)), None)
        if kind is not None and kind != what:
            raise ModelError(name, f"this is a {kind}, not a {what} ({expected})")
        number = found[len(prefix) + 1 :] if found.startswith(prefix + "/") else ""
        if number.isdigit() and version.isdigit() and int(number) > int(version):
            raise ModelError(
                name,
                f"this {what} was written by a newer callqa ({expected})",
                hint="upgrade callqa to read it: pip install -U callqa",
            )
    raise ModelError(
        name, f"not a {what} this callqa reads ({expected})", hint=f"retrain it with this version: {retrain}"
    )
