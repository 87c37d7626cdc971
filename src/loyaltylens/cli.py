"""``loyaltylens`` command line: one sub-command group per stage, mounted from the stage's own ``cli`` module.

Domain errors become one readable red line and exit code 2; nothing already stored is touched by a
failed command because every writer in the library publishes atomically.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from loyaltylens.data.cli import app as data_app
from loyaltylens.decision.cli import app as offers_app
from loyaltylens.deploy.cli import app as deploy_app
from loyaltylens.errors import LoyaltyLensError
from loyaltylens.evaluation.cli import app as eval_app
from loyaltylens.features.cli import app as features_app
from loyaltylens.generation.cli import app as prompt_app
from loyaltylens.kfp_runner.cli import app as pipeline_app
from loyaltylens.local.serve_cli import app as serve_app
from loyaltylens.local.services_cli import app as services_app
from loyaltylens.main_job import run_main_job
from loyaltylens.propensity.cli import app as model_app

app = typer.Typer(
    name="loyaltylens",
    help="LoyaltyLens: which loyalty offer to send each customer, and its copy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data", help="Generate and validate synthetic loyalty data.")
app.add_typer(features_app, name="features", help="Build and read the versioned feature store.")
app.add_typer(model_app, name="model", help="Train, register, promote and roll back propensity models.")
app.add_typer(serve_app, name="serve", help="Start KServe model servers on loopback.")
app.add_typer(
    services_app, name="services", help="Local stand-ins for the cluster's services: MLflow server, S3, Postgres."
)
app.add_typer(pipeline_app, name="pipeline", help="Compile and run the KFP pipelines (locally or on a host).")
app.add_typer(offers_app, name="offers", help="Decide and write offers for customers.")
app.add_typer(prompt_app, name="prompt", help="Versioned prompts: list, show, diff, activate, roll back.")
app.add_typer(eval_app, name="eval", help="Evaluate prompt and generator versions; exit 1 when the gate fails.")
# No name: deploy, status, invoke and teardown are top-level commands (--spec FILE --target kserve|sagemaker|vertex).
app.add_typer(deploy_app)
app.command("run", help="The main job: data -> training pipeline -> propensity server -> offers.")(
    run_main_job
)


def main() -> None:
    try:
        app()
    except LoyaltyLensError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
