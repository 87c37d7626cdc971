"""Run the generator server (``python -m serving.generator``) as a child process on free loopback ports."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from loyaltylens.local.launcher import ServerProcess
from loyaltylens.local.stack import ServerAddress
from loyaltylens.local.stack import generator_process as server_process


class GeneratorServer(NamedTuple):
    process: ServerProcess  # not started yet: use it as a context manager
    http_url: str
    grpc_target: str


def generator_process(model_dir: Path, log_path: Path, model_name: str = "generator") -> GeneratorServer:
    """The server process for ``model_dir`` and where it will listen, on free loopback ports."""
    address = ServerAddress.free()
    process = server_process(model_dir, address, log_path, model_name)
    return GeneratorServer(process, address.http_url, address.grpc_target)
