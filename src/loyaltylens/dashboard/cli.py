"""``loyaltylens dashboard``: the Streamlit app on loopback (``streamlit run`` of ``dashboard/app.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from loyaltylens.config import get_settings

APP_PATH = Path(__file__).resolve().parent / "app.py"
# MLflow's client retries an unreachable server for minutes by default; a dashboard should say so within seconds.
MLFLOW_CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def streamlit_command(port: int, address: str = "127.0.0.1") -> list[str]:
    """The command that serves the dashboard headless (no browser opened, no usage statistics sent)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.address", address, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
    ]  # fmt: skip


def dashboard(
    port: Annotated[int | None, typer.Option(help="Port (default: settings.dashboard_port).")] = None,
    address: Annotated[str, typer.Option(help="Address to bind; loopback unless you mean to share it.")] = "127.0.0.1",
) -> None:
    """Serve the dashboard: registry aliases and metrics, policy value, eval runs and gate decisions, drift per
    feature over versions, campaign effects and per-stage latency."""
    command = streamlit_command(port or get_settings().dashboard_port, address)
    typer.echo(f"dashboard on http://{address}:{command[command.index('--server.port') + 1]}")
    raise typer.Exit(subprocess.call(command, env={**MLFLOW_CLIENT_ENV, **os.environ}))
