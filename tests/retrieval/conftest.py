"""One embedded Postgres (pgserver, Postgres 16 + pgvector) per test session; a fresh database per test."""

import shutil
import tempfile
import uuid
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from loyaltylens.local.postgres import embedded_postgres_url, stop_embedded_postgres
from loyaltylens.retrieval.embeddings import TextEmbedder

OFFERS = pd.DataFrame(
    {
        "offer_id": [1, 2, 3, 4, 5, 6],
        "category": ["dairy", "baby", "beverages", "dairy", "snacks", "household"],
        "discount_pct": [20, 30, 10, 15, 25, 10],
        "channel": ["mobile", "any", "web", "in_store", "any", "in_store"],
        "min_spend": [10.0, 20.0, 0.0, 5.0, 0.0, 15.0],
        "bonus_points": [0, 50, 0, 0, 100, 0],
        "start_date": pd.to_datetime(["2026-01-01"] * 3 + ["2026-06-01"] + ["2026-01-01"] * 2),
        "end_date": pd.to_datetime(["2026-12-31"] * 3 + ["2026-06-30"] + ["2026-12-31"] * 2),
        "title": ["Dairy deal", "Nappies deal", "Drinks deal", "Cheese week", "Crisps deal", "Cleaning deal"],
        "text": [
            "20% off milk, yoghurt and cheese in the app",
            "30% off nappies and baby wipes",
            "10% off soft drinks and juice online",
            "15% off cheese and butter in store",
            "25% off sea-salt crisps and dark chocolate",
            # A long text about something else that ends in an exact term (a voucher code).
            "Spring clean for less: 10% off kitchen rolls, bin bags, dishwasher tablets, laundry detergent and "
            "every other household essential at the till in any of our stores; voucher ZQX7K",
        ],
    }
)


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


@pytest.fixture(scope="session")
def embedder() -> TextEmbedder:
    return TextEmbedder()


@pytest.fixture
def offers() -> pd.DataFrame:
    return OFFERS.copy()
