"""``loyaltylens pipeline schedule``: a KFP recurring run of the compiled retraining pipeline, created through
kfp.Client against a local fake of the KFP v2beta1 REST API that records what it receives; without an endpoint
the command exits != 0 with one readable line."""

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from typer.testing import CliRunner

from loyaltylens.cli import app
from loyaltylens.kfp_runner.runner import load_pipeline


@pytest.fixture
def fake_kfp() -> Iterator[tuple[str, list[tuple[str, str, dict]]]]:
    """(base URL, received (method, path, JSON body)) of a fake KFP API answering what kfp.Client asks."""
    received: list[tuple[str, str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            received.append((self.command, self.path.split("?")[0], body))
            if self.path.startswith("/apis/v2beta1/experiments"):
                reply = {"experiment_id": "exp-1", "display_name": "loyaltylens"}
            elif self.path.startswith("/apis/v2beta1/recurringruns"):
                reply = {"recurring_run_id": "rr-1", "display_name": body.get("display_name", "")}
            else:  # healthz, and the experiment search finding none
                reply = {}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    thread.join()


def test_schedule_creates_a_recurring_run_of_the_compiled_retraining_pipeline(isolated_settings, fake_kfp):
    host, received = fake_kfp
    result = CliRunner().invoke(app, ["pipeline", "schedule", "--host", host, "-p", "n_days=180"])
    assert result.exit_code == 0, result.output
    assert "recurring run id rr-1" in " ".join(result.output.split())  # rich wraps long lines
    [(_, _, recurring)] = [r for r in received if r[:2] == ("POST", "/apis/v2beta1/recurringruns")]
    assert recurring["trigger"]["cron_schedule"]["cron"] == isolated_settings.retraining_schedule_cron
    assert recurring["experiment_id"] == "exp-1"
    committed = next(yaml.safe_load_all(load_pipeline("retraining").COMPILED.read_text()))
    sent = recurring["pipeline_spec"]["pipeline_spec"]
    assert sent["pipelineInfo"] == committed["pipelineInfo"]
    assert sent["components"].keys() == committed["components"].keys()
    # the committed IR, with KFP's cache off for every task: each scheduled run re-reads its triggers and data
    root_tasks = sent["root"]["dag"]["tasks"]
    assert root_tasks.keys() == committed["root"]["dag"]["tasks"].keys()
    assert all(task["cachingOptions"] == {} for task in root_tasks.values())
    parameters = recurring["runtime_config"]["parameters"]
    assert parameters["n_days"] == 180 and parameters["max_epochs"] == isolated_settings.max_epochs


def test_schedule_without_an_endpoint_is_one_readable_error(isolated_settings, monkeypatch):
    monkeypatch.delenv("LOYALTYLENS_KFP_HOST", raising=False)
    # the entry point in a subprocess, so its error boundary is what is tested
    result = subprocess.run(
        [sys.executable, "-c", "from loyaltylens.cli import main; main()", "pipeline", "schedule"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: no KFP endpoint: pass --host or set LOYALTYLENS_KFP_HOST"], result.stderr
