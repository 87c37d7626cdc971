"""``loyaltylens services up|env``: run the cluster's services locally and point the settings at them."""

from __future__ import annotations

import signal
import time
from contextlib import ExitStack

import typer
from rich.console import Console

from loyaltylens.config import get_settings
from loyaltylens.errors import NotFoundError

console = Console()
app = typer.Typer(no_args_is_help=True)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def up() -> None:
    """Start the object store, Postgres and the MLflow tracking server on loopback until Ctrl-C.

    While they run, every `loyaltylens` command (and every pipeline step it starts) uses them: the
    settings are written to <data_dir>/services/services.env, which is removed again on exit.
    """
    from loyaltylens.local.services import local_services

    settings = get_settings()
    env_path = settings.services_env_path
    signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` stops the services the way Ctrl-C does
    try:
        with ExitStack() as running:
            with console.status("starting the object store, Postgres and the MLflow tracking server"):
                services = running.enter_context(local_services(settings))
            env_path.parent.mkdir(parents=True, exist_ok=True)
            env_path.write_text(services.env_file())
            console.print(f"object store (S3)   {services.s3_endpoint_url}  bucket s3://loyaltylens")
            console.print(f"MLflow tracking     {services.mlflow_tracking_uri}")
            console.print(f"Postgres            {services.postgres_url}")
            console.print(f"settings written to {env_path}; Ctrl-C stops the services")
            while all(process.process.poll() is None for process in services.processes):
                time.sleep(1)
            console.print("[red]a service exited; stopping the others[/]")
    except KeyboardInterrupt:
        pass
    finally:
        env_path.unlink(missing_ok=True)


@app.command()
def env() -> None:
    """Print the settings of the running local services as shell `export` lines."""
    path = get_settings().services_env_path
    if not path.is_file():
        raise NotFoundError("no local services are running; start them with `loyaltylens services up`")
    for line in path.read_text().splitlines():
        typer.echo(f"export {line}")
