"""``loyaltylens pipeline compile|run|schedule``: the KFP pipelines, locally with kfp.local or on a KFP backend."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import InvalidInputError, LoyaltyLensError
from loyaltylens.kfp_runner.runner import (
    PIPELINES,
    RUNNERS,
    LocalRun,
    arguments_from_settings,
    compile_pipeline,
    parse_arguments,
    run_local,
    schedule,
    strip_ansi,
    submit,
)

console = Console()
app = typer.Typer(no_args_is_help=True)


@app.command("compile")
def compile_command(
    name: Annotated[str | None, typer.Argument(help="Pipeline to compile; all when omitted.")] = None,
) -> None:
    """Compile pipeline(s) to the KFP IR YAML committed beside their definition."""
    for pipeline_name in [name] if name else sorted(PIPELINES):
        console.print(f"compiled {pipeline_name} -> {compile_pipeline(pipeline_name)}")


@app.command("run")
def run_command(
    name: Annotated[str, typer.Argument(help="Pipeline to run.")] = "training",
    host: Annotated[
        str | None, typer.Option(help="KFP API endpoint; runs locally with kfp.local when omitted.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Pipeline parameter key=value (default: the settings' value)."),
    ] = None,
    runner: Annotated[
        str,
        typer.Option(
            help=f"Local task runner: {' or '.join(RUNNERS)} (every task in the train image; `make images`)."
        ),
    ] = "subprocess",
    namespace: Annotated[str | None, typer.Option(help="With --host: the KFP namespace (multi-user).")] = None,
    experiment: Annotated[str, typer.Option(help="With --host: the KFP experiment.")] = "loyaltylens",
    caching: Annotated[
        bool, typer.Option(help="With --host: let KFP reuse cached task results (side-effect tasks never do).")
    ] = True,
    wait: Annotated[bool, typer.Option(help="With --host: wait for the run to finish; fail if it fails.")] = False,
) -> None:
    """Run a pipeline locally (every component as a subprocess or container) or submit it to a KFP endpoint."""
    from loyaltylens.propensity.cli import versions_table
    from loyaltylens.propensity.registry import ModelRegistry

    settings = get_settings()
    arguments = arguments_from_settings(name, settings, parse_arguments(name, param or []))
    if host:
        run_id = submit(name, host, arguments, experiment=experiment, namespace=namespace, caching=caching, wait=wait)
        console.print(f"submitted {name} to {host}: run id {run_id}" + (" (succeeded)" if wait else ""))
        return
    run = run_pipeline(name, arguments, settings, runner)
    console.print(f"[green]pipeline {name} succeeded[/] in {run.seconds:.1f}s; artifacts under {run.pipeline_root}")
    console.print(versions_table(ModelRegistry.from_settings(settings).list_versions()))


@app.command("schedule")
def schedule_command(
    name: Annotated[str, typer.Argument(help="Pipeline to schedule.")] = "retraining",
    host: Annotated[str | None, typer.Option(help="KFP API endpoint (default: LOYALTYLENS_KFP_HOST).")] = None,
    cron: Annotated[
        str | None, typer.Option(help="KFP cron, 6 fields (default: LOYALTYLENS_RETRAINING_SCHEDULE_CRON).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Pipeline parameter key=value (default: the settings' value)."),
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="The KFP namespace (multi-user).")] = None,
    experiment: Annotated[str, typer.Option(help="The KFP experiment.")] = "loyaltylens",
) -> None:
    """Create a KFP recurring run of a pipeline (the retraining pipeline by default) on a cron schedule."""
    settings = get_settings()
    host = host or settings.kfp_host
    if not host:
        raise InvalidInputError("no KFP endpoint: pass --host or set LOYALTYLENS_KFP_HOST")
    arguments = arguments_from_settings(name, settings, parse_arguments(name, param or []))
    cron = cron or settings.retraining_schedule_cron
    recurring_id = schedule(name, host, cron, arguments, experiment=experiment, namespace=namespace)
    console.print(f"scheduled {name} on {host} at cron '{cron}': recurring run id {recurring_id}")


def run_pipeline(name: str, arguments: dict, settings: Settings, runner: str = "subprocess") -> LocalRun:
    """Run locally with kfp.local's output in a log file; show a spinner, then each task's status."""
    log_path = settings.logs_dir / f"pipeline-{name}-{datetime.now():%Y%m%d-%H%M%S}.log"
    with console.status(f"running pipeline {name} with kfp.local, {runner} runner (log: {log_path})"):
        try:
            run = run_local(name, arguments, settings, log_path, runner)
        except RuntimeError as exc:  # kfp.local names the failed task; the details are in the log
            raise LoyaltyLensError(f"{strip_ansi(str(exc))} (log: {log_path})") from None
    for task, status in run.task_status.items():
        colour = "green" if status == "SUCCESS" else "red"
        console.print(f"  [{colour}]{status:<8}[/] {task}")
    return run
