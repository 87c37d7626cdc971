"""Run the feedback service as a child process (``loyaltylens serve feedback``, the tests, the benchmark)."""

from __future__ import annotations

import sys
from pathlib import Path

from loyaltylens.local.launcher import LOOPBACK, ServerProcess


def feedback_process(port: int, log_path: Path, env: dict[str, str] | None = None, host: str = LOOPBACK):
    """The service on ``host:port`` over the store the (child's) settings name; ready when /healthz answers."""
    return ServerProcess(
        [sys.executable, "-m", "serving.feedback", "--host", host, "--port", str(port)],
        f"http://{LOOPBACK}:{port}/healthz",
        log_path,
        env=env,
    )
