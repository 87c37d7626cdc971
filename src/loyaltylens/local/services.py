"""Cluster-like local mode: the cluster's services as local processes on loopback, and settings that use them.

On a cluster every pipeline step and server reaches MLflow (a tracking server with artifacts in the object
store), the object store (MinIO or S3) and Postgres by URI. :func:`local_services` starts the same kinds
of service here:

- an S3-compatible object store: ``moto`` in server mode (in memory; its contents go when it stops),
- Postgres 16 (embedded ``pgserver``, :mod:`loyaltylens.local.postgres`) for the feature store's DuckLake
  catalog,
- an MLflow tracking server (``mlflow server``) with its runs in SQLite and artifacts proxied into the
  object store (``--serve-artifacts``), so clients need no S3 credentials for MLflow,

and returns the settings (as ``LOYALTYLENS_*`` variables) that point at them: feature data under
``s3://loyaltylens/feature-store``, the catalog in Postgres, MLflow over HTTP. ``loyaltylens services up``
writes them to ``<data_dir>/services/services.env``, which :func:`loyaltylens.config.get_settings` reads.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from loyaltylens.config import Settings
from loyaltylens.local.launcher import LOOPBACK, ServerProcess, free_port
from loyaltylens.objectstore import S3Options

BUCKET = "loyaltylens"
FEATURE_STORE_PREFIX = "feature-store"
MLFLOW_ARTIFACTS_PREFIX = "mlartifacts"
# moto accepts any credentials; these make the local store's clients sign requests like real ones.
LOCAL_S3_KEY_ID = "loyaltylens-local"
LOCAL_S3_SECRET = "loyaltylens-local-secret"


@dataclass(frozen=True)
class LocalServices:
    """The running services and the settings that point at them."""

    s3_endpoint_url: str
    mlflow_tracking_uri: str
    postgres_url: str
    processes: tuple[ServerProcess, ...]

    @property
    def env(self) -> dict[str, str]:
        """``LOYALTYLENS_*`` variables for every process that should use these services."""
        return {
            "LOYALTYLENS_MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "LOYALTYLENS_S3_ENDPOINT_URL": self.s3_endpoint_url,
            "LOYALTYLENS_S3_ACCESS_KEY_ID": LOCAL_S3_KEY_ID,
            "LOYALTYLENS_S3_SECRET_ACCESS_KEY": LOCAL_S3_SECRET,
            "LOYALTYLENS_FEATURE_STORE_URI": f"s3://{BUCKET}/{FEATURE_STORE_PREFIX}",
            "LOYALTYLENS_FEATURE_STORE_CATALOG": "postgres:" + libpq_keywords(self.postgres_url),
            "LOYALTYLENS_POSTGRES_URL": self.postgres_url,
        }

    def env_file(self) -> str:
        return "".join(f"{key}={value}\n" for key, value in self.env.items())


def libpq_keywords(url: str) -> str:
    """``postgresql://user@host:port/db?host=/socket`` -> ``dbname=db host=... port=... user=...`` (DuckDB's
    postgres extension takes the keyword form)."""
    parsed = urlparse(url)
    query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    parts = {
        "dbname": parsed.path.lstrip("/") or None,
        "host": query.get("host") or parsed.hostname,
        "port": str(parsed.port) if parsed.port else query.get("port"),
        "user": parsed.username or query.get("user"),
    }
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)


@contextmanager
def local_services(settings: Settings) -> Iterator[LocalServices]:
    """Start the object store, Postgres and the MLflow tracking server; stop them on exit.

    State that outlives a run (the MLflow runs database, Postgres data) stays under
    ``<data_dir>/services``; the object store is in memory.
    """
    from loyaltylens.local.postgres import embedded_postgres_url

    root = Path(settings.data_dir) / "services"
    with ExitStack() as running:
        s3_port = free_port()
        s3_url = f"http://{LOOPBACK}:{s3_port}"
        s3 = running.enter_context(
            ServerProcess(
                [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(s3_port)],
                f"{s3_url}/moto-api/",
                root / "logs" / "s3.log",
            )
        )
        store = S3Options(s3_url, settings.s3_region, LOCAL_S3_KEY_ID, LOCAL_S3_SECRET)
        store.client().create_bucket(Bucket=BUCKET)
        postgres = embedded_postgres_url(root / "postgres")
        mlflow_port = free_port()
        mlflow = running.enter_context(
            ServerProcess(
                [
                    sys.executable, "-m", "mlflow", "server",
                    "--host", LOOPBACK,
                    "--port", str(mlflow_port),
                    "--workers", "1",
                    "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                    "--artifacts-destination", f"s3://{BUCKET}/{MLFLOW_ARTIFACTS_PREFIX}",
                    "--serve-artifacts",
                ],  # fmt: skip
                f"http://{LOOPBACK}:{mlflow_port}/health",
                root / "logs" / "mlflow.log",
                env={
                    "MLFLOW_S3_ENDPOINT_URL": s3_url,
                    "AWS_ACCESS_KEY_ID": LOCAL_S3_KEY_ID,
                    "AWS_SECRET_ACCESS_KEY": LOCAL_S3_SECRET,
                    "AWS_DEFAULT_REGION": settings.s3_region,
                    # MLflow 3 starts seven huey job-runner processes for server-side jobs LoyaltyLens never
                    # submits (evaluation runs in the caller); without them the server starts faster and lighter.
                    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                },
                timeout=120.0,
            )
        )
        yield LocalServices(s3_url, f"http://{LOOPBACK}:{mlflow_port}", postgres, (s3, mlflow))
