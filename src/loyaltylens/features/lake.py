"""Open the feature store's DuckLake: DuckDB with its catalog in SQLite or Postgres and data files on disk or S3.

The DuckDB extensions come from PyPI packages (``duckdb-extension-<name>``) and are loaded from the file
inside the package, so nothing is downloaded at run time; auto-install is switched off so a missing
extension fails at once instead of waiting on the network.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import duckdb

from loyaltylens.errors import LoyaltyLensError
from loyaltylens.objectstore import S3Options, is_s3_uri

LAKE_ALIAS = "fs"  # the attached DuckLake's name inside each connection
SQLITE_PREFIX = "sqlite:"
POSTGRES_PREFIX = "postgres:"


@cache
def extension_file(name: str) -> str:
    """Path of the ``.duckdb_extension`` file shipped in the PyPI package ``duckdb-extension-<name>``."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or spec.origin is None:
        raise LoyaltyLensError(f"DuckDB extension '{name}' is not installed (pip install duckdb-extension-{name})")
    found = next(Path(spec.origin).parent.rglob("*.duckdb_extension"), None)
    if found is None:
        raise LoyaltyLensError(f"package duckdb-extension-{name} holds no .duckdb_extension file")
    return str(found)


def catalog_extension(catalog: str) -> str | None:
    """The extension a DuckLake catalog needs besides ducklake itself (a ``.ducklake`` file needs none)."""
    if catalog.startswith(SQLITE_PREFIX):
        return "sqlite_scanner"
    if catalog.startswith(POSTGRES_PREFIX):
        return "postgres_scanner"
    return None


def open_lake(catalog: str, data_path: str, s3: S3Options | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the DuckLake ``catalog`` attached as ``fs``, its files under ``data_path``.

    Local catalogs and data directories are created on first use.

    Raises:
        LoyaltyLensError: an extension is missing, or the catalog or object store cannot be reached.
    """
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET enable_progress_bar = false")
    needed = ["ducklake", catalog_extension(catalog)]
    if is_s3_uri(data_path):
        needed.append("httpfs")
    for name in filter(None, needed):
        con.execute(f"LOAD '{extension_file(name)}'")
    if is_s3_uri(data_path):
        sql, params = (s3 or S3Options(endpoint_url=None, region="us-east-1")).duckdb_secret_sql()
        con.execute(sql, params)
    else:
        Path(data_path).mkdir(parents=True, exist_ok=True)
    if catalog.startswith(SQLITE_PREFIX) or catalog.endswith(".ducklake"):
        Path(catalog.removeprefix(SQLITE_PREFIX)).parent.mkdir(parents=True, exist_ok=True)
    data = data_path if data_path.endswith("/") else data_path + "/"
    try:
        # ATTACH takes no bound parameters; both values come from the settings and are quoted as SQL literals.
        con.execute(f"ATTACH {_literal('ducklake:' + catalog)} AS {LAKE_ALIAS} (DATA_PATH {_literal(data)})")
    except duckdb.Error as exc:
        con.close()
        raise LoyaltyLensError(f"cannot open the feature store (catalog {catalog}, data {data_path}): {exc}") from None
    return con


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
