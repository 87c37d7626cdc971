"""TorchServe as a local process on loopback, serving a propensity model directory.

:class:`TorchServeServer` runs ``torchserve --start --foreground`` on three free loopback ports
(inference, management, metrics) with token authorization on, and stops it with everything it spawned.
The benchmark and the integration tests use it like this::

    with TorchServeServer(model_dir, workdir) as ts:
        httpx.post(ts.inference_url, json={"instances": rows}, headers=ts.inference_headers)
        ts.predict(rows)  # -> list[float], same body and answers as the KServe v1 predictor

Token authorization (TorchServe >= 0.11.1, on by default): at start-up TorchServe writes ``key_file.json``
into its working directory with three keys, valid 60 minutes: ``management`` (management API),
``inference`` (inference API, including ``/ping``) and ``API`` (to regenerate the other two). Each API
accepts only its own key as ``Authorization: Bearer <key>``; a missing or wrong key is answered with
HTTP 400 ``InvalidKeyException`` (not 401/403). The metrics API needs no key.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import numpy as np
import psutil

from loyaltylens.errors import InvalidInputError, LoyaltyLensError
from loyaltylens.local.launcher import LOOPBACK, ServerProcess, free_port
from loyaltylens.propensity.torchserve import (
    DEFAULT_MODEL_NAME,
    build_archive,
    console_script,
    log_config_path,
    write_properties,
)

KEY_FILENAME = "key_file.json"  # written by TorchServe into its working directory


def find_java_home() -> Path | None:
    """JAVA_HOME for TorchServe's launcher: the environment's if it has ``bin/java``, else the PATH java's."""
    configured = os.environ.get("JAVA_HOME")
    if configured and (Path(configured) / "bin" / "java").is_file():
        return Path(configured)
    java = shutil.which("java")
    return Path(java).resolve().parent.parent if java else None


def _process_group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


class TorchServeServer:
    """TorchServe serving one model directory on loopback; a context manager that starts and stops it.

    ``workdir`` holds the model store, ``config.properties``, the console log and TorchServe's working
    directory (key file, ``logs/``). TorchServe keeps its pid file and the workers' Unix sockets in its
    temp directory, so each instance gets a private one, which lets several run at once; it is created
    under the system temp directory rather than in ``workdir`` because a Unix socket path may not exceed
    107 bytes, and removed on stop.

    Args:
        model_dir: exported model directory (``model.pt`` + ``feature_contract.json``).
        workdir: scratch directory for this instance; created if missing.
        model_name: the name in the inference URL.
        workers: TorchServe worker processes for the model.
        threads_per_worker: torch intra-op threads in each worker (``OMP_NUM_THREADS``).
        timeout: seconds to wait for the frontend and then for the model's workers to be ready.

    The defaults were measured on 2 cores: 2 workers x 1 thread served 1.2-2x the requests/s of 1 worker
    with 4 concurrent clients (batches of 1 and 256) at the same batch-1 latency; 1 worker x 2 threads
    was worst, its threads competing with the Java frontend and the clients for the cores.
    """

    def __init__(
        self,
        model_dir: Path,
        workdir: Path,
        model_name: str = DEFAULT_MODEL_NAME,
        workers: int = 2,
        threads_per_worker: int = 1,
        timeout: float = 90.0,
    ):
        self.model_dir = Path(model_dir)
        self.workdir = Path(workdir).resolve()
        self.model_name = model_name
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.timeout = timeout
        self.inference_port = free_port()
        self.management_port = free_port()
        self.metrics_port = free_port()
        # TorchServe always starts its gRPC APIs too (default ports 7070/7071, which a second instance
        # could not bind), so they get free loopback ports as well.
        self.grpc_inference_port = free_port()
        self.grpc_management_port = free_port()
        self.keys: dict[str, str] = {}
        self._server: ServerProcess | None = None
        self._client: httpx.Client | None = None
        self._temp_dir: Path | None = None

    # --- addresses and keys --------------------------------------------------------------------------
    @property
    def inference_address(self) -> str:
        return f"http://{LOOPBACK}:{self.inference_port}"

    @property
    def management_address(self) -> str:
        return f"http://{LOOPBACK}:{self.management_port}"

    @property
    def metrics_address(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}"

    @property
    def inference_url(self) -> str:
        """POST ``{"instances": [...]}`` here with :attr:`inference_headers`."""
        return f"{self.inference_address}/predictions/{self.model_name}"

    @property
    def inference_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys['inference']}"}

    @property
    def management_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys['management']}"}

    @property
    def log_path(self) -> Path:
        return self.workdir / "torchserve.log"

    def processes(self) -> list[psutil.Process]:
        """The running launcher, Java frontend and Python workers (e.g. to sum their memory)."""
        if self._server is None or self._server.process is None or self._server.process.poll() is not None:
            return []
        launcher = psutil.Process(self._server.pid)
        return [launcher, *launcher.children(recursive=True)]

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> TorchServeServer:
        java_home = find_java_home()
        if java_home is None:
            raise LoyaltyLensError("TorchServe needs Java 17: put java on PATH or set JAVA_HOME")
        model_store = self.workdir / "model-store"
        build_archive(self.model_dir, model_store, self.model_name)
        config = write_properties(self.workdir / "config.properties", self._properties(model_store))
        (self.workdir / KEY_FILENAME).unlink(missing_ok=True)  # never read a previous run's keys
        cmd = [
            console_script("torchserve"),
            "--start",
            "--foreground",
            "--ncs",
            "--model-store", str(model_store),
            "--models", f"{self.model_name}={self.model_name}.mar",
            "--ts-config", str(config),
            "--log-config", str(log_config_path()),
        ]
        self._temp_dir = Path(tempfile.mkdtemp(prefix="torchserve-"))
        env = {
            "JAVA_HOME": str(java_home),
            # TMPDIR: the launcher's pid file and the worker sockets; TEMP: Java's temp dir (unpacked .mar).
            "TMPDIR": str(self._temp_dir),
            "TEMP": str(self._temp_dir),
            # An inherited TS_CONFIG_FILE would override --ts-config.
            "TS_CONFIG_FILE": str(config),
            "OMP_NUM_THREADS": str(self.threads_per_worker),
        }
        # The metrics API needs no key and is bound after the inference and management APIs, so it
        # tells when the frontend is up; the model's readiness is checked next, with the management key.
        ready_url = f"{self.metrics_address}/metrics"
        self._server = ServerProcess(
            cmd, ready_url, self.log_path, env=env, cwd=self.workdir, timeout=self.timeout
        )
        try:
            self._server.start()
            self.keys = self._read_keys()
            self._client = httpx.Client(timeout=30.0)
            self._wait_model_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _properties(self, model_store: Path) -> dict[str, object]:
        return {
            "inference_address": self.inference_address,
            "management_address": self.management_address,
            "metrics_address": self.metrics_address,
            "grpc_inference_address": LOOPBACK,
            "grpc_inference_port": self.grpc_inference_port,
            "grpc_management_address": LOOPBACK,
            "grpc_management_port": self.grpc_management_port,
            "model_store": model_store,
            "default_workers_per_model": self.workers,
            # The periodic system-metrics collector is a Python process every minute: noise on 2 cores.
            "disable_system_metrics": "true",
            # Metrics served at metrics_address/metrics instead of several log lines per request.
            "metrics_mode": "prometheus",
            # Requests allowed to wait for a worker before TorchServe answers 503; room for benchmark load.
            "job_queue_size": 1000,
        }

    def _read_keys(self) -> dict[str, str]:
        """The management and inference keys from ``key_file.json`` (written before the APIs come up)."""
        key_file = self.workdir / KEY_FILENAME
        if not key_file.is_file():
            raise LoyaltyLensError(f"TorchServe wrote no {key_file}; is token authorization disabled?")
        content = json.loads(key_file.read_text())
        return {api: content[api]["key"] for api in ("management", "inference")}

    def _wait_model_ready(self) -> None:
        """Poll the management API until all of the model's workers are READY."""
        url = f"{self.management_address}/models/{self.model_name}"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._server.process.poll() is not None:
                raise LoyaltyLensError(
                    f"TorchServe exited with code {self._server.process.returncode}\n{self._log_tails()}"
                )
            try:
                response = self._client.get(url, headers=self.management_headers)
            except httpx.TransportError:  # the frontend is going down; the next poll() tells
                response = None
            if response is not None and response.status_code == 200:
                workers = response.json()[0]["workers"]
                if len(workers) >= self.workers and all(w["status"] == "READY" for w in workers):
                    return
            time.sleep(0.2)
        tails = self._log_tails()
        raise LoyaltyLensError(f"model {self.model_name} not ready after {self.timeout:.0f}s\n{tails}")

    def _log_tails(self) -> str:
        """The ends of the console log (frontend errors) and of the workers' log (handler errors)."""
        return "\n".join(
            f"--- {path}:\n{path.read_text(errors='replace')[-1500:]}"
            for path in (self.log_path, self.workdir / "logs" / "model_log.log")
            if path.is_file()
        )

    def stop(self) -> None:
        """Stop the launcher, the Java frontend and the Python workers; remove the key file and temp dir."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None and self._server.process is not None:
            # The launcher leads its own process group (start_new_session); the Java frontend and the
            # Python workers are in it too. ServerProcess.stop signals the group (SIGTERM, then SIGKILL)
            # but waits only for the launcher, which exits first, so wait for the rest here.
            group = self._server.pid
            self._server.stop()
            _, alive = psutil.wait_procs(_process_group_members(group), timeout=15)
            for process in alive:
                process.kill()
            psutil.wait_procs(alive, timeout=5)
            self._server = None
        (self.workdir / KEY_FILENAME).unlink(missing_ok=True)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> TorchServeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- client ----------------------------------------------------------------------------------------
    def predict(self, instances: Sequence[Mapping | Sequence[float]] | np.ndarray) -> list[float]:
        """Propensities for feature records or contract-ordered rows; ``InvalidInputError`` on HTTP 400."""
        if self._client is None:
            raise LoyaltyLensError("TorchServe is not running")
        if isinstance(instances, np.ndarray):
            instances = instances.tolist()
        response = self._client.post(
            self.inference_url, json={"instances": list(instances)}, headers=self.inference_headers
        )
        if response.status_code == 400:
            raise InvalidInputError(response.json().get("message", response.text))
        if response.status_code != 200:
            raise LoyaltyLensError(f"TorchServe answered {response.status_code}: {response.text}")
        return response.json()["predictions"]
