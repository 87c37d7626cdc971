"""Fixtures shared by every test folder."""

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from loyaltylens.config import Settings, get_settings
from loyaltylens.local.postgres import embedded_postgres_url, stop_embedded_postgres

REPO = Path(__file__).resolve().parent.parent
# kubectl and helm installed by scripts/install-k8s-tools.sh (a `make test` prerequisite).
TOOLS_BIN = REPO / ".tools" / "bin"
if TOOLS_BIN.is_dir():
    os.environ["PATH"] = f"{TOOLS_BIN}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose data dir is a fresh temp dir; restored (and the settings cache cleared) afterwards."""
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


# One embedded Postgres (pgserver, Postgres 16 + pgvector) per test session, started only when a test asks;
# a fresh database per test (retrieval and feedback stores).
def outside_pytest_tmp() -> Path:
    """A fresh dir outside pytest's basetemp. As root, pgserver runs Postgres as the ``pgserver`` user, and
    every pytest session resets ``/tmp/pytest-of-root`` to mode 0700, which would lock a running server out
    of its data dir whenever another pytest session starts."""
    return Path(tempfile.mkdtemp(prefix="loyaltylens-pgtest-"))


@pytest.fixture(scope="session")
def pg_server_dir() -> Path:
    root = outside_pytest_tmp()
    pgdata = root / "postgres"
    embedded_postgres_url(pgdata)
    yield pgdata
    stop_embedded_postgres(pgdata)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_scratch_dir() -> Path:
    """A dir for a test's own embedded server (removed afterwards)."""
    root = outside_pytest_tmp()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server_dir) -> str:
    """A libpq URL of a database created for this test (dropped afterwards)."""
    admin_url = embedded_postgres_url(pg_server_dir)
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin_url.replace("/loyaltylens?", f"/{name}?")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
