"""Run the generator server (``python -m serving.generator``) as a child process on loopback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

from loyaltylens.local.launcher import LOOPBACK, ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]


class GeneratorServer(NamedTuple):
    process: ServerProcess  # not started yet: use it as a context manager
    http_url: str
    grpc_target: str


def generator_process(model_dir: Path, log_path: Path, model_name: str = "generator") -> GeneratorServer:
    """The server process for ``model_dir`` and where it will listen, on free loopback ports."""
    http_port, grpc_port = free_port(), free_port()
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
        str(grpc_port),
        "--enable_latency_logging",
        "false",
    ]
    base_url = f"http://{LOOPBACK}:{http_port}"
    process = ServerProcess(cmd, f"{base_url}/v2/models/{model_name}/ready", log_path, cwd=REPO)
    return GeneratorServer(process, base_url, f"{LOOPBACK}:{grpc_port}")
