"""`loyaltylens services up|env` as a user runs it: a foreground process that serves until it is stopped."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from loyaltylens.local.services import LocalServices

SERVICES = "from loyaltylens.cli import main; main()"


def test_services_up_writes_the_settings_serves_and_cleans_up(tmp_path: Path) -> None:
    env = {**os.environ, "LOYALTYLENS_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env_file = tmp_path / "data" / "services" / "services.env"
    up = subprocess.Popen([sys.executable, "-c", SERVICES, "services", "up"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not env_file.is_file():
            assert up.poll() is None and time.monotonic() < deadline, "services did not come up"
            time.sleep(0.5)
        exported = subprocess.run(
            [sys.executable, "-c", SERVICES, "services", "env"], env=env, capture_output=True, text=True, check=True
        ).stdout
        settings = dict(line.removeprefix("export ").split("=", 1) for line in exported.splitlines())
        assert set(settings) == set(LocalServices("", "", "", ()).env)
        assert httpx.get(f"{settings['LOYALTYLENS_MLFLOW_TRACKING_URI']}/health", timeout=10).status_code == 200
        children = psutil.Process(up.pid).children(recursive=True)
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0, output
    assert "MLflow tracking" in output and not env_file.exists()
    _, alive = psutil.wait_procs([c for c in children if c.is_running()], timeout=15)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]  # the services stopped with it

    stopped = subprocess.run(
        [sys.executable, "-c", SERVICES, "services", "env"], env=env, capture_output=True, text=True
    )
    assert stopped.returncode == 2 and "no local services are running" in stopped.stderr
