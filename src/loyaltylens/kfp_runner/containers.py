"""Pipeline tasks and servers in the project's images (components/Dockerfile), against the services on this host.

A container gets what a pod gets on a cluster and nothing more: the service URIs and credentials (the
ConfigMap's and Secrets' settings, :data:`SERVICE_SETTINGS`), its own empty data dir inside the image, and
its KFP artifacts (kfp.local mounts the pipeline root). It runs as the image's non-root user and shares the
host's network, so the services on loopback (``loyaltylens services up``) are reachable at the same URIs.

The one exception is the embedded Postgres, which listens on a unix socket in its 0700 data dir: another
uid cannot reach it, so :func:`container_service_env` puts a loopback TCP relay in front of the socket and
points the containers' settings at the relay.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from pydantic import SecretStr

from loyaltylens.config import Settings
from loyaltylens.errors import LoyaltyLensError
from loyaltylens.kfp_runner.platform import RUN_AS_USER
from loyaltylens.local.launcher import LOOPBACK, ServerProcess

# Settings that name a service or carry its credentials: what the ConfigMap and Secrets give a pod.
SERVICE_SETTINGS: tuple[str, ...] = (
    "mlflow_tracking_uri",
    "s3_endpoint_url",
    "s3_region",
    "s3_access_key_id",
    "s3_secret_access_key",
    "feature_store_uri",
    "feature_store_catalog",
    "postgres_url",
)


def service_env(settings: Settings) -> dict[str, str]:
    """``LOYALTYLENS_*`` variables of the service settings that are set."""
    env = {}
    for name in SERVICE_SETTINGS:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None:
            env[f"LOYALTYLENS_{name.upper()}"] = str(value)
    return env


def require_services(settings: Settings) -> None:
    """A container has no data dir of the host's: without the services it could not hand anything on."""
    needed = ("mlflow_tracking_uri", "feature_store_uri", "postgres_url")
    missing = [name for name in needed if not getattr(settings, name)]
    if missing:
        raise LoyaltyLensError(
            f"containers reach state only through services, and {', '.join(missing)} is not set: "
            "start them with `loyaltylens services up` (or set LOYALTYLENS_* to the cluster's services)"
        )


def _unix_socket(postgres_url: str) -> tuple[Path, dict[str, str]] | None:
    """The socket file and the URL's parts when ``postgres_url`` names a unix socket (``?host=/dir``)."""
    parsed = urlparse(postgres_url)
    host = {key: values[-1] for key, values in parse_qs(parsed.query).items()}.get("host", "")
    if not host.startswith("/"):
        return None
    socket_file = Path(host) / f".s.PGSQL.{parsed.port or 5432}"
    return socket_file, {"user": parsed.username or "postgres", "dbname": parsed.path.lstrip("/") or "postgres"}


class UnixSocketRelay:
    """A loopback TCP port whose connections are relayed, byte for byte, to a unix socket (asyncio, one thread)."""

    def __init__(self, socket_file: Path) -> None:
        self.socket_file = socket_file
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="unix-socket-relay", daemon=True)

    def __enter__(self) -> UnixSocketRelay:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._relay, LOOPBACK, 0), self._loop).result()
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _shutdown(self) -> None:
        """Stop accepting, then end the open relays (their sockets close in ``_pipe``)."""
        self._server.close()
        relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_unix_connection(str(self.socket_file))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()  # the other direction sees end-of-file and ends too


@contextmanager
def container_service_env(settings: Settings) -> Iterator[dict[str, str]]:
    """The environment of a task or server container; a relay for a unix-socket Postgres lives as long as it."""
    env = service_env(settings)
    socket = _unix_socket(settings.postgres_url) if settings.postgres_url else None
    if socket is None:
        yield env
        return
    socket_file, parts = socket
    with UnixSocketRelay(socket_file) as relay:
        env["LOYALTYLENS_POSTGRES_URL"] = f"postgresql://{parts['user']}@{LOOPBACK}:{relay.port}/{parts['dbname']}"
        if (settings.feature_store_catalog or "").startswith("postgres:"):
            env["LOYALTYLENS_FEATURE_STORE_CATALOG"] = (
                f"postgres:dbname={parts['dbname']} host={LOOPBACK} port={relay.port} user={parts['user']}"
            )
        yield env


def docker_run_args(env: dict[str, str]) -> dict:
    """``docker run`` options of every container: host network, the image's non-root user, only ``env``."""
    return {"network_mode": "host", "user": str(RUN_AS_USER), "environment": env}


SERVE_IMAGE = "ghcr.io/loyaltylens/loyaltylens-serve:0.1.0"  # components/Dockerfile --target serve
_container_numbers = itertools.count()


def in_container(server: ServerProcess, image: str, env: dict[str, str]) -> ServerProcess:
    """The same server started from ``image``: ``python -m MODULE ARGS`` becomes ``docker run IMAGE MODULE ARGS``.

    The container sees only ``env`` (passed by name, so values never appear on a command line), runs as the
    image's user on the host network, and is removed when it stops (``docker run`` forwards the SIGTERM).
    """
    _python, flag, module, *args = server.cmd
    if flag != "-m":
        raise ValueError(f"not a `python -m` server: {server.cmd}")
    name = f"loyaltylens-{module.rsplit('.', 1)[-1]}-{os.getpid()}-{next(_container_numbers)}"
    cmd = ["docker", "run", "--rm", "--init", "--name", name, "--network", "host", "--user", str(RUN_AS_USER)]
    cmd += [option for key in sorted(env) for option in ("--env", key)]
    return ServerProcess(
        [*cmd, image, module, *args], server.ready_url, server.log_path, env=env, timeout=server.timeout
    )
