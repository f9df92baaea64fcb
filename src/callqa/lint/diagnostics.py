"""Findings of the CI commands (lint, rubric check, rubric test): one place in one file, like flake8."""

from __future__ import annotations

from dataclasses import dataclass

from callqa.errors import CallqaError

SEVERITIES = ("info", "warning", "error", "fatal")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    path: str
    line: int
    col: int
    severity: str  # info | warning | error | fatal
    rule: str
    message: str
    suggestion: str | None = None

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line, self.col, self.rule, self.message)

    def at_least(self, severity: str) -> bool:
        return SEVERITIES.index(self.severity) >= SEVERITIES.index(severity)


@dataclass(slots=True)
class CheckResult:
    """What a CI command found: diagnostics, files it could not read, and what it looked at."""

    diagnostics: list[Diagnostic]
    # Inputs that could not be read, kept as the errors themselves: each output format places them on
    # their file and line (a GitHub annotation without `file=` is attached to nothing).
    errors: list[CallqaError]
    checked: list[str]  # every file (or rubric) looked at, clean or not

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.diagnostics, key=lambda d: d.sort_key)

    def exit_code(self, fail_on: str) -> int:
        if self.errors:
            return 2
        return 1 if any(d.at_least(fail_on) for d in self.diagnostics) else 0
