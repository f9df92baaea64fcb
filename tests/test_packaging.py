"""The wheel carries the default rubric, models and database migrations; the README's commands are CI's."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT


def test_wheel_ships_the_default_rubric(tmp_path):
    pytest.importorskip("hatchling", reason="hatchling (a dev extra) builds the wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            "-q",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("callqa-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = archive.read("callqa/rubrics/default.yaml")
    assert {"callqa/cli/app.py", "callqa/rules/schema.py", "callqa/stages/default_model.json"} <= names
    # The database migrations `callqa db upgrade` runs, every revision of them.
    migrations = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src/callqa/store/migrations").rglob("*.py")}
    assert len(migrations) >= 3 and migrations <= names
    assert shipped == (ROOT / "rubrics" / "default.yaml").read_bytes()
    assert any(n.endswith("entry_points.txt") for n in names)


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```(?:sh|bash)?\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in first_block.splitlines() if line.strip() and not line.startswith("#")]
    assert any("callqa score transcripts/" in c for c in commands)
    assert any("pytest" in c for c in commands)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in commands:
        install_and_test = command.replace("python3.11 -m venv .venv && . .venv/bin/activate && ", "")
        assert install_and_test in ci, command


def test_every_library_callqa_imports_is_a_declared_dependency():
    """A plain `pip install callqa` (no extras) must run every command: each third-party module the CLI
    and the store import belongs to a distribution pyproject.toml depends on (click, say, came only
    with dev tools once, and `callqa --version` failed on a clean install)."""
    import importlib
    import importlib.metadata
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {re.split(r"[<>=!~\[; ]", d)[0].lower().replace("_", "-") for d in project["dependencies"]}
    before = set(sys.modules)
    lazy = ("callqa.evaluation.evaluate", "callqa.reports.evaluation", "callqa.lint.linter", "callqa.lint.rubric_tools")
    for module in ("callqa.cli.app", "callqa.store.database", "callqa.store.writer", "alembic.command", *lazy):
        importlib.import_module(module)
    owners = importlib.metadata.packages_distributions()
    imported = {name.split(".")[0] for name in set(sys.modules) - before} | {"typer", "sqlalchemy"}
    needed = set()
    for top in imported:
        for distribution in owners.get(top, []):
            needed.add(distribution.lower().replace("_", "-"))
    needed -= {"callqa"}
    # What the declared dependencies bring with them (and theirs, in turn) is theirs to declare.
    brought, todo = set(), list(declared)
    while todo:
        try:
            requirements = importlib.metadata.requires(todo.pop()) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requirements:
            name = re.split(r"[<>=!~\[; (]", requirement)[0].lower().replace("_", "-")
            if "extra ==" not in requirement and name not in brought:
                brought.add(name)
                todo.append(name)
    assert needed <= declared | brought, sorted(needed - declared - brought)


def test_scoring_one_call_from_the_command_line_loads_only_the_scoring_code(tmp_path):
    """`callqa score CALL` is a cold start every time (the 1 s budget): the store, the measuring and
    training code, the linter and the rubric diff load only in the commands that use them, and jieba's
    dictionary (0.9 s) not even for the hint of a required script missed; a batch's process pool,
    summary statistics and progress bar neither."""
    import subprocess

    missed = tmp_path / "missed.txt"  # no "anything else?": the required script's hint is worked out
    missed.write_text(
        "## 问候\n客服:您好,工号1234为您服务\n## 切入\n客户:查话费\n客服:您的余额是50元\n"
        "## 结束\n客服:还有要说的吗\n客户:没有了,谢谢\n客服:再见\n",
        encoding="utf-8",
    )

    code = (
        "import sys; from callqa.cli.app import app; sys.argv = ['callqa', 'score', sys.argv[1]]\n"
        "try: app()\nexcept SystemExit: pass\n"
        "heavy = ('callqa.store.records', 'callqa.store.writer', 'callqa.store.database', 'callqa.evaluation',"
        " 'callqa.lint.linter', 'callqa.batch.rubric_diff', 'callqa.rules.detector_training', 'sqlalchemy', 'jieba',"
        " 'multiprocessing', 'statistics', 'rich.progress')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)), file=sys.stderr)"
    )
    for call in (ROOT / "transcripts" / "03_refund_bad.txt", missed):
        out = subprocess.run([sys.executable, "-c", code, str(call)], capture_output=True, text=True, timeout=120)
        assert "得分" in out.stdout, out.stderr
        assert out.stderr.strip().splitlines()[-1] == "[]", out.stderr
    assert "必说话术缺失" in out.stdout and "缺少:「" in out.stdout


def test_the_package_loads_its_api_on_first_use_and_still_offers_all_of_it():
    """`import callqa` loads only the version (the command sets the process up before the library
    loads); every API name, `callqa.api` and the CLI's modules are there when asked for."""
    import subprocess

    code = (
        "import sys, callqa; assert 'callqa.api' not in sys.modules, 'eager'\n"
        "assert callqa.api.__name__ == 'callqa.api' and callqa.score_file is callqa.api.score_file\n"
        "import callqa.cli; assert callqa.cli.app.__name__ == 'callqa.cli.app'\n"
        "ns = {}; exec('from callqa import *', ns); assert set(callqa.api.__all__) <= set(ns)\n"
        "assert {'score_file', '__version__'} <= set(dir(callqa)); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout == "ok\n", out.stderr
