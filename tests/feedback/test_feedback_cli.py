"""``loyaltylens feedback ...``: the exports and the quality table read the settings' store; the OpenAPI
command writes the committed document; bad input is one readable line and exit 2."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loyaltylens.cli import app
from loyaltylens.config import get_settings
from loyaltylens.feedback.client import FeedbackClient
from loyaltylens.feedback.store import open_feedback_store
from loyaltylens.local.launcher import LOOPBACK, free_port, wait_http_ready
from loyaltylens.local.postgres import stop_embedded_postgres, with_postgres
from tests.conftest import outside_pytest_tmp
from tests.feedback.conftest import RATED_AT, make_feedback, make_offer

REPO = Path(__file__).resolve().parents[2]


def test_export_and_quality_read_the_settings_store(isolated_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich would wrap the table's cells
    good, bad = make_offer("d-good"), make_offer("d-bad", copy_text="50% off everything, guaranteed!")
    with open_feedback_store(isolated_settings) as store:
        for offer, stars in [(good, 5), (bad, 1)]:
            store.add_offer(offer)
            store.add_feedback(make_feedback(offer, stars=stars))
    runner = CliRunner()
    sft, dpo = tmp_path / "sft.jsonl", tmp_path / "dpo.jsonl"
    assert runner.invoke(app, ["feedback", "export", "sft", "--out", str(sft)]).exit_code == 0
    assert runner.invoke(app, ["feedback", "export", "dpo", "--out", str(dpo)]).exit_code == 0
    assert [json.loads(line)["messages"][-1]["content"] for line in sft.read_text().splitlines()] == [good.copy_text]
    (pair,) = [json.loads(line) for line in dpo.read_text().splitlines()]
    assert (pair["chosen"], pair["rejected"]) == (good.copy_text, bad.copy_text)

    table = runner.invoke(app, ["feedback", "quality", "--as-of", RATED_AT.isoformat()])
    assert table.exit_code == 0 and "3.00" in table.output and "loyaltylens-generator/1" in table.output


def test_the_cli_starts_the_embedded_postgres_for_a_postgres_feedback_store(tmp_path, monkeypatch):
    data_dir = outside_pytest_tmp()
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LOYALTYLENS_FEEDBACK_STORE", "postgres")
    monkeypatch.delenv("LOYALTYLENS_POSTGRES_URL", raising=False)
    get_settings.cache_clear()
    try:
        with open_feedback_store(with_postgres(get_settings())) as store:
            store.add_offer(make_offer())
            store.add_feedback(make_feedback(stars=5))
        sft = tmp_path / "sft.jsonl"
        result = CliRunner().invoke(app, ["feedback", "export", "sft", "--out", str(sft)])
        assert result.exit_code == 0, result.output
        assert len(sft.read_text().splitlines()) == 1  # the rating written to the embedded server's store
    finally:
        get_settings.cache_clear()
        stop_embedded_postgres(data_dir / "postgres")
        shutil.rmtree(data_dir, ignore_errors=True)


def test_openapi_command_and_a_bad_timestamp(tmp_path):
    out = tmp_path / "openapi.json"
    assert CliRunner().invoke(app, ["feedback", "openapi", "--out", str(out)]).exit_code == 0
    assert out.read_text() == (REPO / "docs" / "feedback-openapi.json").read_text()
    bad = subprocess.run(
        [sys.executable, "-c", "from loyaltylens.cli import main; main()", "feedback", "quality", "--as-of", "yes"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "not an ISO 8601 timestamp" in bad.stderr


def test_serve_feedback_runs_from_any_directory_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {**os.environ, "LOYALTYLENS_DATA_DIR": str(tmp_path / "data")}
    cli = subprocess.Popen(
        [sys.executable, "-c", "from loyaltylens.cli import main; main()", "serve", "feedback", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_http_ready(f"http://{LOOPBACK}:{port}/healthz", timeout=60, process=cli)
        with FeedbackClient(f"http://{LOOPBACK}:{port}") as client:
            assert client.rate(make_feedback()).created
    finally:
        cli.send_signal(signal.SIGTERM)
        output, _ = cli.communicate(timeout=30)
    assert cli.returncode == 0, output
    assert f"http://{LOOPBACK}:{port}/" in output
    assert (tmp_path / "data" / "feedback" / "feedback.sqlite").is_file()
    with pytest.raises(OSError):  # the service stopped with the CLI
        socket.create_connection((LOOPBACK, port), timeout=1)
