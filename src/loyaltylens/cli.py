"""``loyaltylens`` command line: one sub-command group per stage, mounted from the stage's own ``cli`` module.

Domain errors become one readable red line and exit code 2; nothing already stored is touched by a
failed command because every writer in the library publishes atomically.
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Annotated

import typer
from rich.console import Console

from loyaltylens.config import Settings, get_settings
from loyaltylens.dashboard.cli import dashboard
from loyaltylens.data.cli import app as data_app
from loyaltylens.decision.cli import app as offers_app
from loyaltylens.deploy.cli import app as deploy_app
from loyaltylens.errors import LoyaltyLensError
from loyaltylens.evaluation.cli import app as eval_app
from loyaltylens.features.cli import app as features_app
from loyaltylens.feedback.cli import app as feedback_app
from loyaltylens.feedback.cli import serve_feedback
from loyaltylens.generation.cli import app as prompt_app
from loyaltylens.kfp_runner.cli import app as pipeline_app
from loyaltylens.local.serve_cli import app as serve_app
from loyaltylens.local.services_cli import app as services_app
from loyaltylens.main_job import run_main_job
from loyaltylens.monitoring.cli import drift_app, experiments_app
from loyaltylens.propensity.cli import app as model_app

app = typer.Typer(
    name="loyaltylens",
    help="LoyaltyLens: which loyalty offer to send each customer, and its copy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"loyaltylens {metadata.version('loyaltylens')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """LoyaltyLens: which loyalty offer to send each customer, and its copy."""


app.add_typer(data_app, name="data", help="Generate and validate synthetic loyalty data.")
app.add_typer(features_app, name="features", help="Build and read the versioned feature store.")
app.add_typer(model_app, name="model", help="Train, register, promote and roll back propensity models.")
serve_app.command("feedback")(serve_feedback)
app.add_typer(serve_app, name="serve", help="Start the KServe model servers, feedback and offer services on loopback.")
app.add_typer(
    services_app, name="services", help="Local stand-ins for the cluster's services: MLflow server, S3, Postgres."
)
app.add_typer(pipeline_app, name="pipeline", help="Compile and run the KFP pipelines (locally or on a host).")
app.add_typer(offers_app, name="offers", help="Decide and write offers for customers.")
app.add_typer(feedback_app, name="feedback", help="Ratings of generated offers: quality, exports, OpenAPI.")
app.add_typer(prompt_app, name="prompt", help="Versioned prompts: list, show, diff, activate, roll back.")
app.add_typer(drift_app, name="drift", help="Feature and prediction-score drift; exit 3 recommends retraining.")
app.add_typer(experiments_app, name="experiments", help="Campaign effects measured on the random hold-out.")
app.add_typer(eval_app, name="eval", help="Evaluate prompt and generator versions; exit 1 when the gate fails.")
# No name: deploy, status, invoke and teardown are top-level commands (--spec FILE --target kserve|sagemaker|vertex).
app.add_typer(deploy_app)
app.command("dashboard")(dashboard)
app.command("run", help="The main job: data -> training pipeline -> propensity server -> offers.")(
    run_main_job
)


def main() -> None:
    try:
        app()
    except LoyaltyLensError as exc:
        _fail(str(exc))
    except Exception as exc:
        message = unreachable_service_message(exc, get_settings())
        if message is None:
            raise
        _fail(message)


def _fail(message: str) -> None:
    # one line, however many the underlying client's message has
    Console(stderr=True).print(f"[bold red]error:[/] {' '.join(message.split())}", highlight=False, soft_wrap=True)
    sys.exit(2)


# Exceptions (by class name, anywhere in the cause chain) that mean "could not connect", from the clients the
# library uses: requests/urllib3 (MLflow, KFP), botocore, psycopg, httpx, openai, and the builtins.
_CONNECTION_ERRORS = {
    "ConnectionError", "ConnectionRefusedError", "ConnectTimeout", "ConnectError", "ConnectTimeoutError",
    "MaxRetryError", "NewConnectionError", "EndpointConnectionError", "APIConnectionError", "gaierror",
    "OperationalError", "TimeoutError",
}  # fmt: skip


def unreachable_service_message(exc: BaseException, settings: Settings) -> str | None:
    """One line naming the service's URI when ``exc`` says a service could not be reached, else None.

    An unreachable or misconfigured service is an error of the command, never an empty answer; the library
    lets the client's exception through and this boundary says which URI it was.
    """
    chain = []
    error: BaseException | None = exc
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    mlflow_request_failed = "API request to" in str(exc) and type(exc).__name__ == "MlflowException"
    if not mlflow_request_failed and not any(type(e).__name__ in _CONNECTION_ERRORS for e in chain):
        return None
    origin = type(exc).__module__.split(".")[0]
    where = {
        "mlflow": f"the MLflow tracking server {settings.tracking_uri}",
        "botocore": f"the object store {settings.s3_endpoint_url or 'AWS S3'}",
        "boto3": f"the object store {settings.s3_endpoint_url or 'AWS S3'}",
        "psycopg": f"Postgres {settings.postgres_url}",
        "psycopg2": f"Postgres {settings.postgres_url}",
        "openai": f"the OpenAI-compatible endpoint {settings.openai_base_url}",
    }.get(origin)
    target = where or next(filter(None, map(_request_url, chain)), "a service")
    detail = str(chain[-1]).splitlines()[0][:200] if str(chain[-1]) else type(chain[-1]).__name__
    return f"cannot reach {target}: {detail}"


def _request_url(error: BaseException) -> str | None:
    """The URL a failed HTTP request went to: httpx errors carry the request, urllib3's retries the pool."""
    if type(error).__module__.startswith("httpx"):
        try:
            return str(error.request.url)
        except RuntimeError:  # an httpx error raised without a request
            return None
    pool = getattr(error, "pool", None)
    if pool is not None and hasattr(error, "url"):
        return f"{pool.scheme}://{pool.host}:{pool.port}{error.url or ''}"
    return None
