"""The one error type that reaches the user: it names the file (and line) and says what is wrong."""

from __future__ import annotations

from pathlib import Path


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


class ModelError(CallqaError):
    """A trained model file that cannot be loaded: missing, corrupt, or of a format this callqa does not read."""
