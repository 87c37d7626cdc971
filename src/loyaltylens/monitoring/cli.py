"""``loyaltylens drift ...`` and ``loyaltylens experiments ...``: drift checks and campaign effects (thin layers
over ``loyaltylens.monitoring``)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from loyaltylens.config import get_settings
from loyaltylens.data.generator import default_dataset_dir
from loyaltylens.errors import NotFoundError
from loyaltylens.features.store import FeatureStore
from loyaltylens.monitoring.drift import DriftResult, DriftThresholds, check_drift, evidently_report

drift_app = typer.Typer(help="Feature and prediction-score drift between feature versions.", no_args_is_help=True)
experiments_app = typer.Typer(
    help="Campaign experiments: the effect of sending, on the hold-out.", no_args_is_help=True
)
console = Console()
LEVEL_STYLE = {"stable": "green", "minor": "yellow", "major": "bold red"}


def _training_feature_version(model: str) -> str:
    """The feature version the registered model ``model`` (an alias or version) was trained on."""
    from loyaltylens.propensity.registry import ModelRegistry

    lineage = ModelRegistry.from_settings(get_settings()).model_card(model).lineage
    if not lineage.get("feature_version"):
        raise NotFoundError(f"model {model} records no training feature version; pass --reference")
    return lineage["feature_version"]


@drift_app.command("check")
def check(
    reference: Annotated[
        str | None,
        typer.Option(help="Reference feature version (default: the one --model was trained on)."),
    ] = None,
    current: Annotated[str, typer.Option(help="Feature version to check.")] = "latest",
    model: Annotated[
        str | None,
        typer.Option(help="Registered propensity model (alias or version, e.g. champion): adds score drift."),
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write the Evidently data-drift report here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON here.")] = None,
) -> None:
    """PSI per feature (and of the model's scores) from the training version to a newer one.

    Exit code 0: no retraining recommended; 3: retraining recommended (>= drift_retrain_major_features features
    with PSI > drift_psi_major, or major score drift); 2: an error (unknown version, unreachable store, ...).
    """
    settings = get_settings()
    if reference is None and model is None:
        raise typer.BadParameter("give --reference, or --model to use the model's training feature version")
    store = FeatureStore.from_settings(settings)
    scorer = None
    if model is not None:
        from loyaltylens.monitoring.scores import model_scorer
        from loyaltylens.propensity.registry import ModelRegistry

        reference = reference or _training_feature_version(model)
        scorer = model_scorer(ModelRegistry.from_settings(settings).download(model, Path(tempfile.mkdtemp())))
    result = check_drift(store, reference, current, DriftThresholds.from_settings(settings), scorer)
    console.print(drift_table(result))
    if html is not None:
        summary = evidently_report(
            store.get_online_frame(result.reference_version), store.get_online_frame(result.current_version), html
        )
        drifted = [c.column for c in summary.columns if c.drifted]
        console.print(f"Evidently report: {summary.html_path} ({len(drifted)} drifted: {', '.join(drifted) or '-'})")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(result.to_json())
    verdict = (
        "[bold red]retraining recommended[/]: " + "; ".join(result.reasons)
        if result.reasons
        else ("[green]no retraining recommended[/]")
    )
    console.print(verdict)
    raise typer.Exit(result.exit_code)


def drift_table(result: DriftResult) -> Table:
    table = Table(
        title=f"drift {result.reference_version} ({result.reference_as_of}) -> "
        f"{result.current_version} ({result.current_as_of})"
    )
    for column in ("feature", "PSI", "level", "reference mean", "current mean"):
        table.add_column(column, justify="left" if column in ("feature", "level") else "right")
    for d in [*result.features, *([result.score] if result.score else [])]:
        style = LEVEL_STYLE[str(d.level)]
        table.add_row(
            d.name, f"{d.psi:.3f}", f"[{style}]{d.level}[/]", f"{d.reference_mean:.4g}", f"{d.current_mean:.4g}"
        )
    return table


@experiments_app.command("effects")
def effects(
    dataset: Annotated[Path | None, typer.Option(help="Dataset directory (default: the settings' dataset).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the effects as JSON here.")] = None,
) -> None:
    """Per campaign, the effect of sending on spend and margin (treated - hold-out, CUPED on pre-period spend)."""
    from loyaltylens.monitoring.experiments import analyse_campaigns

    frame = analyse_campaigns(dataset or default_dataset_dir(get_settings()))
    table = Table(title="effect of sending per campaign (EUR per targeted customer, 95 % CI, CUPED)")
    for column in ("campaign", "outcome", "treated", "held out", "effect", "95 % CI", "variance removed"):
        table.add_column(column, justify="right")
    for row in frame.itertuples():
        table.add_row(
            str(row.campaign_id),
            row.outcome,
            f"{row.treated:,}",
            f"{row.held_out:,}",
            f"{row.estimate:+.3f}",
            f"[{row.low:+.3f}, {row.high:+.3f}]",
            f"{row.variance_reduction:.0%}",
        )
    console.print(table)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(frame.to_dict(orient="records"), indent=2))
