"""``loyaltylens model ...``: train, list, promote, roll back and describe propensity models.

A thin layer: the work is in :mod:`loyaltylens.propensity.workflow` and
:mod:`loyaltylens.propensity.registry`, imported inside the commands because torch and MLflow take
seconds to import and every other ``loyaltylens`` command would pay for it. Domain errors propagate;
the root CLI prints them as one line and exits with code 2.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from loyaltylens.config import get_settings
from loyaltylens.errors import LoyaltyLensError

if TYPE_CHECKING:
    from loyaltylens.propensity.registry import ModelRegistry, ModelVersionInfo
    from loyaltylens.propensity.workflow import TrainingOutcome

app = typer.Typer(help="Train, register, promote and roll back propensity models.", no_args_is_help=True)
console = Console()

# Test-split metrics shown by `train` and `list`: (column title, metric).
SUMMARY_METRICS = (("test AUC", "auc"), ("test PR-AUC", "pr_auc"), ("test ECE", "ece"))


def default_registry() -> ModelRegistry:
    from loyaltylens.propensity.registry import ModelRegistry

    return ModelRegistry.from_settings(get_settings())


@app.command()
def train(
    version: Annotated[str, typer.Option(help="Feature-store version to train on.")] = "latest",
    max_epochs: Annotated[
        int | None, typer.Option(help="Epoch limit (default: the training config's).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Register even if the candidate fails the gate.")] = False,
) -> None:
    """Train on a feature version, log the run to MLflow and register the model as challenger."""
    from loyaltylens.data.progress import rich_progress
    from loyaltylens.propensity.train import TrainConfig
    from loyaltylens.propensity.workflow import train_from_feature_store

    settings = get_settings()
    config = TrainConfig.from_settings(settings)
    if max_epochs is not None:
        config = dataclasses.replace(config, max_epochs=max_epochs)
    with rich_progress("training propensity model") as report:
        outcome = train_from_feature_store(
            version,
            settings,
            config,
            force=force,
            on_epoch=lambda e: report(
                f"epoch {e.epoch}: val AUC {e.val_auc:.4f}{' (best)' if e.is_best else ''}",
                e.epoch / config.max_epochs,
            ),
        )
    console.print(outcome_table(outcome))
    if outcome.version is None:
        raise LoyaltyLensError(
            f"candidate failed the registration gate ({'; '.join(outcome.gate_reasons)}); "
            f"run {outcome.run_id} is logged but no version was registered (--force registers anyway)"
        )
    console.print(f"registered version {outcome.version} as challenger (run {outcome.run_id})")


@app.command("list")
def list_versions(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List registered versions with their aliases and test metrics."""
    versions = default_registry().list_versions()
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(info) for info in versions], default=str))
        return
    console.print(versions_table(versions))


@app.command()
def promote(
    version: Annotated[
        int | None, typer.Argument(help="Version to promote (default: the challenger).")
    ] = None,
) -> None:
    """Make a version (default: the challenger) the champion that servers load."""
    promoted = default_registry().promote(version)
    console.print(f"version {promoted} is now champion")


@app.command()
def rollback() -> None:
    """Give the champion alias back to the previous champion."""
    restored = default_registry().rollback()
    console.print(f"champion rolled back to version {restored}")


@app.command()
def card(
    version: Annotated[str, typer.Argument(help="Version number or alias (champion, challenger).")],
) -> None:
    """Print a registered version's model card (markdown)."""
    typer.echo(default_registry().model_card(version).to_markdown())


def outcome_table(outcome: TrainingOutcome) -> Table:
    """Test metrics of the candidate and the baselines, and the gate's verdict."""
    from loyaltylens.propensity.baseline import BASELINE_NAMES
    from loyaltylens.propensity.evaluate import PRIMARY_MODEL

    table = Table("model", *(title for title, _ in SUMMARY_METRICS), title="candidate (test split)")
    for model in (PRIMARY_MODEL, *BASELINE_NAMES):
        table.add_row(model, *_cells(outcome.metrics, model))
    table.caption = (
        "gate: passed" if outcome.passed_gate else "gate: FAILED - " + "; ".join(outcome.gate_reasons)
    )
    return table


def versions_table(versions: list[ModelVersionInfo]) -> Table:
    """One row per registered version: aliases, test metrics, creation time and run."""
    from loyaltylens.propensity.evaluate import PRIMARY_MODEL

    table = Table("version", "aliases", *(title for title, _ in SUMMARY_METRICS), "created", "run")
    for info in versions:
        table.add_row(
            str(info.version),
            ", ".join(info.aliases),
            *_cells(info.metrics, PRIMARY_MODEL),
            info.created.strftime("%Y-%m-%d %H:%M"),
            info.run_id,
        )
    return table


def _cells(metrics: dict[str, float], model: str) -> list[str]:
    from loyaltylens.propensity.evaluate import metric_name

    names = [metric_name(metric, "test", model) for _, metric in SUMMARY_METRICS]
    return [f"{metrics[name]:.4f}" if name in metrics else "-" for name in names]
