from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callqa.model import Report
from callqa.rules.compiled import CompiledRubric
from callqa.scoring.pipeline import compile_rubric, score_file

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "transcripts").glob("*.txt"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def rendered_dom(page: Path) -> tuple[str, str]:
    """A page as headless Chromium renders it (its DOM after scripts ran) and the browser's log; the
    flags keep it off the network, which this machine's sandbox closes anyway."""
    assert CHROMIUM is not None, "skip the test when CHROMIUM is None"
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    return browser.stdout, browser.stderr


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


@pytest.fixture(scope="session")
def _postgres_admin() -> Iterator[Any]:
    """An autocommit engine on the server CALLQA_TEST_POSTGRES names (CREATE/DROP DATABASE refuse a transaction).

    One for the session: a connection per test database costs a few milliseconds, an engine per test more.
    """
    url = os.environ.get("CALLQA_TEST_POSTGRES")
    if not url:
        if os.environ.get("CALLQA_REQUIRE_POSTGRES") == "1":
            pytest.fail("CALLQA_REQUIRE_POSTGRES=1 but CALLQA_TEST_POSTGRES (a PostgreSQL server's URL) is not set")
        pytest.skip("no PostgreSQL server: set CALLQA_TEST_POSTGRES=postgresql+psycopg://USER@HOST:PORT/postgres")
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sqlalchemy.exc.OperationalError as error:
        engine.dispose()
        # The URL was given, so an unreachable server is a failure, not a reason to skip.
        pytest.fail(f"CALLQA_TEST_POSTGRES={url}: cannot connect: {error.orig}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database for this test, as a SQLAlchemy URL: each test runs once on each backend.

    SQLite: a file under tmp_path. PostgreSQL: a database of its own on the CALLQA_TEST_POSTGRES server, created
    from template0 (template1 may hold whatever a developer's server added to it), in UTF8 whatever the
    server's default, and dropped afterwards with FORCE, so that a connection the test left open does not keep
    it. Without CALLQA_TEST_POSTGRES the postgresql case is skipped, unless CALLQA_REQUIRE_POSTGRES=1 (CI),
    where it fails.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'callqa.db'}"
        return
    admin = request.getfixturevalue("_postgres_admin")
    name = f"callqa_t_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'")
    try:
        # render_as_string: str(url) masks the password as ***.
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
