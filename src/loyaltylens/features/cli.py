"""``loyaltylens features ...``: build, inspect and query feature versions (a thin layer over the store)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.table import Table

from loyaltylens.config import get_settings
from loyaltylens.data.generator import default_dataset_dir
from loyaltylens.data.progress import rich_progress
from loyaltylens.features.store import FeatureBatch, FeatureStore, VersionInfo

app = typer.Typer(help="Build and query the versioned feature store.", no_args_is_help=True)
console = Console()


def default_store() -> FeatureStore:
    return FeatureStore.from_settings(get_settings())


@app.command()
def build(
    dataset: Annotated[Path | None, typer.Option(help="Dataset directory (default: the settings' dataset).")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Features use events before this ISO date (default: dataset end).")
    ] = None,
    label_window_days: Annotated[int | None, typer.Option(help="Label window (default: settings).")] = None,
) -> None:
    """Compute point-in-time features and publish them as a new immutable version."""
    settings = get_settings()
    with rich_progress("building features") as progress:
        info = default_store().build(
            dataset or default_dataset_dir(settings),
            as_of=as_of,
            label_window_days=label_window_days or settings.label_window_days,
            progress=progress,
        )
    console.print(version_table(info))


@app.command("list")
def list_versions(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List every published version, oldest first."""
    versions = default_store().list_versions()
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(info) for info in versions], default=str))
        return
    console.print(versions_table(versions))


@app.command()
def show(version: Annotated[str, typer.Argument(help="Version name or 'latest'.")] = "latest") -> None:
    """Show one version's metadata and feature statistics."""
    console.print(version_table(default_store().describe(version)))


@app.command()
def get(
    customer_ids: Annotated[list[int], typer.Argument(help="Customer ids to look up.")],
    version: Annotated[str, typer.Option(help="Version name or 'latest'.")] = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records instead of a table.")] = False,
) -> None:
    """Look up customers' online features."""
    batch = default_store().get_features(customer_ids, version=version)
    if as_json:
        typer.echo(
            json.dumps({"version": batch.version, "as_of": batch.as_of, "records": batch.to_records()}, indent=2)
        )
    else:
        console.print(batch_table(batch))


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="Older version.")],
    b: Annotated[str, typer.Argument(help="Newer version.")],
) -> None:
    """Compare two versions: schema, row counts and per-feature distribution."""
    typer.echo(str(default_store().diff(a, b)))


def versions_table(versions: list[VersionInfo]) -> Table:
    table = Table(title="feature versions")
    table.add_column("version", no_wrap=True)
    table.add_column("as-of", no_wrap=True)
    for column in ("online rows", "training rows"):
        table.add_column(column, justify="right")
    for column in ("dataset", "created", "schema"):
        table.add_column(column)
    for i, info in enumerate(versions):
        latest = " (latest)" if i == len(versions) - 1 else ""
        table.add_row(
            info.version + latest,
            info.as_of,
            f"{info.online_rows:,}",
            f"{info.training_rows:,}",
            info.dataset_id or "-",
            info.created_at,
            info.schema_hash,
        )
    if not versions:
        table.caption = "empty: run `loyaltylens features build`"
    return table


def version_table(info: VersionInfo) -> Group:
    about = Table(title=f"feature version {info.version}", show_header=False)
    about.add_column("what")
    about.add_column("value")
    for label, value in (
        ("as-of", info.as_of),
        ("created", info.created_at),
        ("online rows", f"{info.online_rows:,}"),
        ("training rows", f"{info.training_rows:,}"),
        ("dataset", f"{info.dataset_id or '-'} ({info.dataset_hash or '-'})"),
        ("label window", f"{info.label_window_days or '-'} days"),
        ("schema hash", info.schema_hash),
        ("DuckLake snapshot", str(info.snapshot_id)),
    ):
        about.add_row(label, value)
    stats = Table(title="online feature statistics")
    for column in ("feature", "mean", "std", "null share"):
        stats.add_column(column, justify="left" if column == "feature" else "right")
    for name, values in info.metadata["feature_stats"].items():
        stats.add_row(name, f"{values['mean']:.4g}", f"{values['std']:.4g}", f"{values['null_share']:.1%}")
    return Group(about, stats)


def batch_table(batch: FeatureBatch) -> Table:
    """Features as rows and customers as columns, which stays readable for the few ids a person looks up."""
    records = batch.to_records()
    table = Table(title=f"features {batch.version} (as of {batch.as_of})")
    table.add_column("feature")
    for record in records:
        table.add_column(f"customer {record['customer_id']}", justify="right")
    for name in batch.feature_names:
        table.add_row(name, *(f"{r[name]:.4g}" if isinstance(r[name], float) else r[name] for r in records))
    return table
