"""``loyaltylens data ...``: generate and validate datasets (a thin layer over ``loyaltylens.data``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from loyaltylens.config import get_settings
from loyaltylens.data.drift import DEFAULT_DRIFT_DAYS, DriftKind, DriftScenario
from loyaltylens.data.generator import DatasetInfo, config_from_settings, dataset_id, generate_dataset
from loyaltylens.data.progress import rich_progress
from loyaltylens.data.validate import ValidationReport, validate_dataset

app = typer.Typer(help="Generate and validate synthetic loyalty datasets.", no_args_is_help=True)
console = Console()


@app.command()
def generate(
    customers: Annotated[
        int | None, typer.Option(help="Customers to simulate (default: settings.n_customers).")
    ] = None,
    days: Annotated[int | None, typer.Option(help="Days to simulate (default: settings.n_days).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: settings.seed).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Dataset directory (default: datasets_dir/<dataset id>).")
    ] = None,
    drift: Annotated[
        DriftKind | None, typer.Option(help="Drift the last --drift-days (loyaltylens.data.drift).")
    ] = None,
    drift_days: Annotated[int, typer.Option(help="Length of the drifted period in days.")] = DEFAULT_DRIFT_DAYS,
) -> None:
    """Simulate customers, offers, purchases and campaigns, and write a dataset with its hidden truth."""
    settings = get_settings()
    config = config_from_settings(settings, n_customers=customers, n_days=days, seed=seed)
    scenario = DriftScenario(drift, days=drift_days) if drift is not None else None
    name = dataset_id(config) + (f"-{scenario.suffix}" if scenario else "")
    target = out or settings.datasets_dir / name
    with rich_progress(f"generating {name}") as progress:
        info = generate_dataset(config, target, progress, drift=scenario)
    console.print(dataset_summary(info))


@app.command()
def validate(path: Annotated[Path, typer.Argument(help="Dataset directory to check.")]) -> None:
    """Check a dataset's schemas, row counts, content hash and value rules; exit 2 naming any violation."""
    report = validate_dataset(path)
    console.print(validation_summary(report))


def dataset_summary(info: DatasetInfo) -> Table:
    manifest, truth = info.manifest, info.manifest["truth_summary"]
    table = Table(title=f"dataset {manifest['dataset_id']}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("path", str(info.path))
    for name, rows in manifest["row_counts"].items():
        table.add_row(f"{name} rows", f"{rows:,}")
    table.add_row("redemption rate (treated)", f"{truth['redemption_rate']:.1%}")
    table.add_row("oracle AUC (true p_redeem)", f"{truth['oracle_auc']:.3f}")
    if "negative_incremental_margin_share" in truth:
        table.add_row("sends with negative true margin", f"{truth['negative_incremental_margin_share']:.1%}")
        table.add_row("redemptions of a purchase made anyway", f"{truth['subsidised_share_of_redemptions']:.1%}")
    table.add_row("generation time", f"{manifest['generation_seconds']:.1f}s")
    table.add_row("content hash", manifest["content_hash"][:23] + "...")
    return table


def validation_summary(report: ValidationReport) -> str:
    rows = ", ".join(f"{name} {count:,}" for name, count in report.row_counts.items())
    return f"[green]valid[/green] {report.dataset_id}: {len(report.checks)} checks passed ({rows})"
