"""Reading datasets: the manifest, single tables, and the content hash that identifies a dataset's bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from loyaltylens.data.schema import MANIFEST_FILENAME, TABLES, TRUTH_TABLES, table_relpath
from loyaltylens.errors import NotFoundError


def read_manifest(dataset_dir: Path) -> dict:
    """The dataset's ``manifest.json``; ``NotFoundError`` if ``dataset_dir`` holds no complete dataset."""
    path = Path(dataset_dir) / MANIFEST_FILENAME
    if not path.is_file():
        raise NotFoundError(
            f"no dataset at {dataset_dir} (missing {MANIFEST_FILENAME}); run `loyaltylens data generate`"
        )
    return json.loads(path.read_text())


def table_path(dataset_dir: Path, name: str) -> Path:
    """Path of table ``name`` (public or ``*_truth``); ``NotFoundError`` listing the valid names otherwise."""
    if name not in TABLES and name not in TRUTH_TABLES:
        raise NotFoundError(f"unknown table '{name}'; tables are {', '.join(TABLES + TRUTH_TABLES)}")
    return Path(dataset_dir) / table_relpath(name)


def load_table(dataset_dir: Path, name: str) -> pd.DataFrame:
    """Load one table of a dataset as a DataFrame (dates and timestamps as ``datetime64``).

    Example:
        >>> customers = load_table(Path(".loyaltylens/datasets/seed42-c50000-d365"), "customers")
    """
    read_manifest(dataset_dir)
    return pq.read_table(table_path(dataset_dir, name)).to_pandas(date_as_object=False)


def content_hash(dataset_dir: Path) -> str:
    """SHA-256 over every table file (path and bytes, in a fixed order); equal hashes mean equal data."""
    digest = hashlib.sha256()
    for name in TABLES + TRUTH_TABLES:
        relpath = table_relpath(name)
        digest.update(relpath.encode())
        with open(Path(dataset_dir) / relpath, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def file_digest(path: Path) -> str:
    """``sha256:`` and the first 16 hex digits of the hash of one file's bytes: the identity of a file a model
    version carries, the same wherever the version is downloaded to."""
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def open_duckdb() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection that stays quiet (no progress bar on long queries)."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


def register_views(
    con: duckdb.DuckDBPyConnection, dataset_dir: Path, names: tuple[str, ...], materialize: bool = False
) -> None:
    """Make each named table of the dataset queryable by name in ``con``: a view over its parquet file,
    or with ``materialize`` a table loaded into the database (worth it when queried many times)."""
    kind = "TABLE" if materialize else "VIEW"
    for name in names:
        path = str(table_path(dataset_dir, name)).replace("'", "''")
        con.execute(f"CREATE {kind} {name} AS SELECT * FROM read_parquet('{path}')")
