"""The Postgres the settings name: ``settings.postgres_url`` on a cluster, else an embedded server (pgserver).

The embedded server (Postgres 16 + pgvector) keeps its data under ``data_dir/postgres``. The first caller
starts it; other processes calling with the same data dir attach to the running server, and it stops when
the last process that used it exits (or calls ``stop_embedded_postgres``). It listens on a unix socket only
(no TCP port), so the URL is ``postgresql://postgres:@/loyaltylens?host=<socket dir>``, usable by any
process on this machine.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from loyaltylens.config import Settings
from loyaltylens.errors import LoyaltyLensError

EMBEDDED_DATABASE = "loyaltylens"  # the same database name as the cluster's StatefulSet

log = logging.getLogger(__name__)


def postgres_url(settings: Settings) -> str:
    """A libpq URL for the settings' Postgres; starts the embedded server on first use (about a second).

    Cheap after the first call in a process. On a cluster the password comes from ``PGPASSWORD``.
    """
    if settings.postgres_url:
        return settings.postgres_url
    return embedded_postgres_url(Path(settings.data_dir) / "postgres")


def with_postgres(settings: Settings) -> Settings:
    """``settings`` with ``postgres_url`` filled in: the configured one, else the embedded server's (started
    here). For the local entry points (CLI, main job, the kfp.local runner); the library's Postgres clients
    read ``settings.postgres_url`` and never start a server."""
    if settings.postgres_url:
        return settings
    return settings.model_copy(update={"postgres_url": postgres_url(settings)})


def embedded_postgres_url(pgdata: Path) -> str:
    """Start (or attach to) the embedded server whose data dir is ``pgdata`` and return its URL."""
    return _embedded_url(Path(pgdata).resolve())


def stop_embedded_postgres(pgdata: Path) -> None:
    """Release this process's handle on the server of ``pgdata``; the server stops unless another process
    still uses it. The next ``embedded_postgres_url`` starts it again (data kept)."""
    server = _embedded_server(Path(pgdata).resolve())
    _embedded_url.cache_clear()
    _embedded_server.cache_clear()
    server.cleanup()


@cache
def _embedded_url(pgdata: Path) -> str:
    server = _embedded_server(pgdata)
    _create_database(server.get_uri(), EMBEDDED_DATABASE)
    return server.get_uri(EMBEDDED_DATABASE)


@cache
def _embedded_server(pgdata: Path):
    """The pgserver handle for ``pgdata`` (created with its parents); one per process."""
    import pgserver

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        return pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises assertion/subprocess errors; name the data dir and the log
        raise LoyaltyLensError(f"could not start the embedded Postgres in {pgdata} ({exc}); see {pgdata}/log") from exc


def _create_database(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            log.info("creating database %s in the embedded Postgres", name)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
