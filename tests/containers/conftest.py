"""The container tests need a Docker engine and the images (`make images`); CI's .ci/run provides both.

They run only with ``LOYALTYLENS_CONTAINER_TESTS=1`` (not in the default ``make test``: building and running
the images takes minutes), and then skip, naming what is missing, when the engine or an image is absent.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components import TRAIN_IMAGE
from loyaltylens.kfp_runner.containers import SERVE_IMAGE

ENABLE = "LOYALTYLENS_CONTAINER_TESTS"
SOURCE_DIGEST = Path(__file__).parents[2] / "scripts" / "source-digest.sh"


def _missing() -> str | None:
    if os.environ.get(ENABLE) != "1":
        return f"container tests run with {ENABLE}=1 (a Docker engine and `make images`; .ci/run sets it)"
    if shutil.which("docker") is None:
        return "no docker client on PATH (apt-get install docker.io)"
    info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if info.returncode != 0:
        return f"the Docker engine is not reachable: {info.stderr.strip().splitlines()[-1:]} (start dockerd)"
    digest = subprocess.run([SOURCE_DIGEST], capture_output=True, text=True, check=True).stdout.strip()
    for image in (TRAIN_IMAGE, SERVE_IMAGE):
        label = subprocess.run(
            ["docker", "image", "inspect", "-f", '{{index .Config.Labels "io.loyaltylens.source-digest"}}', image],
            capture_output=True, text=True,
        )  # fmt: skip
        if label.returncode != 0:
            return f"image {image} is not built (make images)"
        if label.stdout.strip() != digest:
            return f"image {image} was built from other sources than these (make images rebuilds it)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    if reason is None:
        return
    for item in items:
        if "tests/containers" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))
