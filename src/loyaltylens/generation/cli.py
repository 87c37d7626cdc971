"""``loyaltylens prompt ...``: list, show, diff, activate and roll back prompt versions.

A thin layer over :class:`loyaltylens.generation.registry.PromptRegistry` (MLflow's Prompt Registry at
``settings.tracking_uri``); domain errors propagate and the root CLI prints them as one line with exit code 2.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from loyaltylens.config import get_settings
from loyaltylens.errors import NotFoundError
from loyaltylens.generation.registry import PRODUCTION, PromptRegistry

app = typer.Typer(help="Versioned prompts: list, show, diff, activate, roll back.", no_args_is_help=True)
console = Console()

Name = Annotated[str, typer.Argument(help="Prompt name, e.g. offer_copy.")]
Why = Annotated[str, typer.Option("--why", help="Reason for the change (written to the audit log).")]
Who = Annotated[str | None, typer.Option("--who", help="Who makes the change (default: the OS user).")]


@app.command("list")
def list_prompts() -> None:
    """Every prompt and version; the active one is marked."""
    settings = get_settings()
    registry = PromptRegistry.from_settings(settings)
    if not registry.names():
        raise NotFoundError(f"no prompts in {settings.prompts_dir} (LOYALTYLENS_PROMPTS_DIR)")
    table = Table("prompt", "version", "active", "mlflow", "aliases", "source", "description")
    for name in registry.names():
        for version in registry.versions(name):
            spec = version.spec
            table.add_row(
                name,
                spec.version,
                "*" if version.active else "",
                str(version.mlflow_version or "-"),
                ",".join(version.aliases),
                version.source,
                spec.description,
            )
    console.print(table)


@app.command()
def show(
    name: Name,
    version: Annotated[str | None, typer.Argument(help="Version (default: the active one).")] = None,
) -> None:
    """Print one version's YAML."""
    chosen = PromptRegistry.from_settings().get(name, version)
    console.print(
        f"# {chosen.spec.ref}{' (active)' if chosen.active else ''} from {chosen.source}", markup=False, soft_wrap=True
    )
    console.print(chosen.text, markup=False, highlight=False, soft_wrap=True)


@app.command()
def diff(
    name: Name,
    new: Annotated[str, typer.Argument(help="Version to compare with.")],
    old: Annotated[str | None, typer.Option("--from", help="Base version (default: the active one).")] = None,
) -> None:
    """Unified diff between two versions (default base: the active version)."""
    text = PromptRegistry.from_settings().diff(name, old, new)
    console.print(text or "no differences", markup=False, highlight=False, soft_wrap=True)


@app.command()
def activate(
    name: Name,
    version: Annotated[str, typer.Argument(help="Version to activate.")],
    why: Why,
    who: Who = None,
    alias: Annotated[str, typer.Option("--alias", help="Alias to move: production or candidate.")] = PRODUCTION,
) -> None:
    """Point an alias (default production) at a version; refused if its variables don't match the pipeline."""
    spec = PromptRegistry.from_settings().activate(name, version, why, who, alias=alias)
    console.print(f"{'active' if alias == PRODUCTION else alias}: {spec.ref}")


@app.command()
def sync(name: Name) -> None:
    """Register every source version MLflow does not hold yet."""
    for semver, number in PromptRegistry.from_settings().sync(name).items():
        console.print(f"{name}@{semver} = prompts:/{name}/{number}")


@app.command()
def rollback(name: Name, why: Why, who: Who = None) -> None:
    """Re-activate the version the last activation replaced."""
    spec = PromptRegistry.from_settings().rollback(name, why, who)
    console.print(f"active: {spec.ref}")
