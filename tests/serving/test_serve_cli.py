"""``loyaltylens serve all``: starts predictor + transformer, prints their URLs, serves, and stops them all
on Ctrl-C or ``kill``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from loyaltylens.local.launcher import LOOPBACK, free_port, wait_http_ready
from tests.serving.payloads import CUSTOMER_IDS, MODEL_NAME

SERVE = "from loyaltylens.local.serve_cli import app; app()"


def _ignore_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("stop_signal", "parent_ignores_ctrl_c"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c", "ctrl-c-in-a-background-job", "kill"],
)
def test_serve_all_prints_urls_serves_and_stops(model_dir, feature_store, tmp_path, stop_signal, parent_ignores_ctrl_c):
    """A shell's background job (or nohup) starts the CLI with SIGINT ignored; Ctrl-C must still stop it."""
    http_port, grpc_port = free_port(), free_port()
    command = [
        sys.executable, "-c", SERVE, "all", "--model-dir", str(model_dir),
        "--http-port", str(http_port), "--grpc-port", str(grpc_port),
    ]  # fmt: skip
    env = {
        **os.environ,
        "LOYALTYLENS_DATA_DIR": str(tmp_path),
        "LOYALTYLENS_FEATURE_STORE_CATALOG": feature_store.catalog,  # the store is found through the settings
        "LOYALTYLENS_FEATURE_STORE_URI": feature_store.data_path,
        "COLUMNS": "200",
    }
    cli = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=_ignore_ctrl_c if parent_ignores_ctrl_c else None,
    )
    try:
        transformer_url = f"http://{LOOPBACK}:{http_port}"
        wait_http_ready(f"{transformer_url}/v2/models/{MODEL_NAME}/ready", timeout=90, process=cli)
        answer = httpx.post(
            f"{transformer_url}/v1/models/{MODEL_NAME}:predict", json={"customer_ids": [int(CUSTOMER_IDS[3])]}
        )
        assert answer.status_code == 200, answer.text
        children = psutil.Process(cli.pid).children(recursive=True)
        assert len(children) >= 2  # predictor and transformer processes
        time.sleep(0.5)  # let the CLI finish printing before it is interrupted
        cli.send_signal(stop_signal)
        output, _ = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 0, output
    assert f"{transformer_url}/v1/models/{MODEL_NAME}:predict" in output
    assert "predictor" in output and "transformer" in output
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []  # the servers were stopped too
