"""The package keeps its shape: imports run one way through the pipeline (import-linter's contracts in
pyproject.toml), so a newcomer can read the tree as read -> normalise -> segment -> match -> score -> render."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import ROOT


def test_import_contracts_hold():
    lint_imports = shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("import-linter is a dev dependency: pip install -e '.[dev]'")
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 kept, 0 broken" in result.stdout
