"""Start model servers as real child processes on loopback and wait until they answer.

Used by ``loyaltylens serve``, ``make run``, the tests and the benchmarks, so they all run servers the same way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from loyaltylens.errors import LoyaltyLensError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """An unused TCP port on loopback (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_http_ready(url: str, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it returns 2xx; fail early if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LoyaltyLensError(f"server exited with code {process.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise LoyaltyLensError(f"{url} not ready after {timeout:.0f}s ({last_error})")


class ServerProcess:
    """A server child process: started in its own process group, stopped (SIGTERM, then SIGKILL) on exit.

    Output goes to ``log_path`` so a failed start can be diagnosed from the file.
    """

    def __init__(
        self,
        cmd: Sequence[str],
        ready_url: str,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 90.0,
    ):
        self.cmd = list(cmd)
        self.ready_url = ready_url
        self.log_path = Path(log_path)
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.timeout = timeout
        self.process: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd, start_new_session=True
        )
        log.close()
        try:
            wait_http_ready(self.ready_url, self.timeout, self.process)
        except LoyaltyLensError as exc:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise LoyaltyLensError(f"{exc}; last log lines:\n{tail}") from None
        return self

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    @property
    def pid(self) -> int:
        if self.process is None:
            raise LoyaltyLensError("server not started")
        return self.process.pid

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
