"""Run the generator server (``python -m serving.generator``) as a child process on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

from loyaltylens.local.launcher import LOOPBACK, ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]


def generator_process(model_dir: Path, log_path: Path, model_name: str = "generator") -> tuple[ServerProcess, str]:
    """The (not yet started) server process for ``model_dir`` and its base URL, on free loopback ports."""
    http_port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "serving.generator",
        "--model_name",
        model_name,
        "--model_dir",
        str(model_dir),
        "--http_port",
        str(http_port),
        "--grpc_port",
        str(free_port()),
        "--enable_latency_logging",
        "false",
    ]
    base_url = f"http://{LOOPBACK}:{http_port}"
    return ServerProcess(cmd, f"{base_url}/v2/models/{model_name}/ready", log_path, cwd=REPO), base_url
