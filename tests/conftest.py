from __future__ import annotations

from pathlib import Path

import pytest

from callqa.model import Report
from callqa.rules.compiled import CompiledRubric
from callqa.scoring.pipeline import compile_rubric, score_file

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "transcripts").glob("*.txt"))


@pytest.fixture(scope="session")
def default_rubric() -> CompiledRubric:
    return compile_rubric()


@pytest.fixture
def write(tmp_path):
    """Write a file under tmp_path and return its path; text is UTF-8 unless bytes are given."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def score_text(write, default_rubric):
    """Score transcript text with the default rubric (or a compiled one given)."""

    def _score(text: str, compiled: CompiledRubric | None = None, name: str = "call.txt") -> Report:
        return score_file(write(name, text), compiled or default_rubric)

    return _score


@pytest.fixture
def rubric_file(write):
    """A rubric YAML that extends the default one, for tests that need one rule changed."""

    def _rubric(body: str, name: str = "rubric.yaml") -> Path:
        return write(name, body)

    return _rubric
