"""Prompts come from the installed package, not the working directory: ``loyaltylens prompt list`` and the
train-generator step's prompt lookup work from a directory outside the checkout, and an empty prompt set is
an error. ``loyaltylens serve generator`` serves the copy model and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from openai import OpenAI

from loyaltylens.local.launcher import LOOPBACK, free_port, wait_http_ready

CLI = "from loyaltylens.cli import main; main()"
SERVE = "from loyaltylens.local.serve_cli import app; app()"


def _run(code: str, *args: str, cwd, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "LOYALTYLENS_DATA_DIR": str(cwd / "data"), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


def test_prompts_are_found_from_outside_the_checkout(tmp_path):
    listed = _run(CLI, "prompt", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "offer_copy" in listed.stdout and "1.0.0" in listed.stdout
    # the train-generator step reads the active offer_copy prompt through the same settings
    lookup = (
        "from loyaltylens.generation.registry import PromptRegistry; "
        "print(PromptRegistry.from_settings().active('offer_copy').ref)"
    )
    step = _run(lookup, cwd=tmp_path)
    assert step.returncode == 0 and step.stdout.strip() == "offer_copy@1.0.0", step.stderr


def test_an_empty_prompt_set_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    listed = _run(CLI, "prompt", "list", cwd=tmp_path, env={"LOYALTYLENS_PROMPTS_DIR": str(tmp_path / "empty")})
    assert listed.returncode != 0
    assert "no prompts in" in listed.stderr + listed.stdout
    assert "Traceback" not in listed.stderr


def test_serve_generator_prints_urls_serves_openai_and_stops(model_dir, tmp_path):
    http_port, grpc_port = free_port(), free_port()
    env = {**os.environ, "LOYALTYLENS_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    command = [
        sys.executable, "-c", SERVE, "generator", "--model-dir", str(model_dir),
        "--http-port", str(http_port), "--grpc-port", str(grpc_port),
    ]  # fmt: skip
    cli = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://{LOOPBACK}:{http_port}"
    try:
        wait_http_ready(f"{base}/v2/models/generator/ready", timeout=90, process=cli)
        client = OpenAI(base_url=f"{base}/openai/v1", api_key="unused", max_retries=0, timeout=30)
        answer = client.chat.completions.create(
            model="generator", messages=[{"role": "user", "content": "10% off snacks online"}], temperature=0
        )
        assert answer.choices[0].message.content.startswith("{")
        assert httpx.get(f"{base}/v2/health/live").status_code == 200
        time.sleep(0.5)  # let the CLI finish printing before it is interrupted
        cli.send_signal(signal.SIGINT)
        output, _ = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 0, output
    assert f"{base}/openai/v1" in output
