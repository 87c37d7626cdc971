"""CLI for the cross-stage work: ``pipeline compile|run``, ``offers for``, and ``run`` (the main job)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import LoyaltyLensError
from loyaltylens.orchestration.kfp_runner import (
    PIPELINES,
    compile_pipeline,
    parse_arguments,
    run_local,
    strip_ansi,
    submit,
)
from loyaltylens.orchestration.pipeline import OfferDecision

console = Console()
STAGES = ("features", "propensity", "retrieval", "generation")
pipeline_app = typer.Typer(no_args_is_help=True)
offers_app = typer.Typer(no_args_is_help=True)


@pipeline_app.command("compile")
def compile_command(
    name: Annotated[str | None, typer.Argument(help="Pipeline to compile; all when omitted.")] = None,
) -> None:
    """Compile pipeline(s) to the KFP IR YAML committed beside their definition."""
    for pipeline_name in [name] if name else sorted(PIPELINES):
        console.print(f"compiled {pipeline_name} -> {compile_pipeline(pipeline_name)}")


@pipeline_app.command("run")
def run_command(
    name: Annotated[str, typer.Argument(help="Pipeline to run.")] = "training",
    host: Annotated[
        str | None, typer.Option(help="KFP API endpoint; runs locally with kfp.local when omitted.")
    ] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Pipeline parameter key=value.")] = None,
) -> None:
    """Run a pipeline locally (every component as a subprocess) or submit it to a KFP endpoint."""
    settings = get_settings()
    arguments = parse_arguments(name, param or [])
    if host:
        console.print(f"submitted {name} to {host}: run id {submit(name, host, arguments)}")
        return
    run = _run_pipeline(name, arguments, settings)
    console.print(f"[green]pipeline {name} succeeded[/] in {run.seconds:.1f}s; artifacts under {run.pipeline_root}")
    _print_registry(settings)


@offers_app.command("for")
def offers_for(
    customer_ids: Annotated[list[int], typer.Argument(help="Customer ids.")],
    predictor_url: Annotated[
        str | None, typer.Option(help="KServe predictor base URL (v2 REST); in-process model when omitted.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model dir or models:/ URI; default: the champion.")] = None,
    feature_version: Annotated[str, typer.Option(help="Feature-store version.")] = "latest",
) -> None:
    """Run run_for_customer for each customer and print the decisions with stage latencies."""
    from loyaltylens.data.generator import default_dataset_dir
    from loyaltylens.orchestration.pipeline import build_pipeline

    settings = get_settings()
    scorer = _scorer(settings, predictor_url, model)
    pipeline = build_pipeline(settings, scorer, default_dataset_dir(settings), feature_version)
    _print_decisions([pipeline.run_for_customer(c) for c in customer_ids])


def run_main_job(
    customers: Annotated[int | None, typer.Option(help="Synthetic customers (default: settings).")] = None,
    show: Annotated[int, typer.Option(help="Customers to print offers for.")] = 6,
    max_epochs: Annotated[int, typer.Option(help="Training epochs at most (early stopping usually ends sooner).")] = 30,
) -> None:
    """Generate data → run the training pipeline with kfp.local → start the KServe servers → offers."""
    import numpy as np

    from loyaltylens.features.store import FeatureStore
    from loyaltylens.inference.model_source import champion_uri
    from loyaltylens.inference.stack import start_propensity_stack
    from loyaltylens.orchestration.pipeline import build_pipeline
    from loyaltylens.orchestration.scorers import KServeV2Scorer

    settings = get_settings()
    if customers is not None:
        settings = settings.model_copy(update={"n_customers": customers})
    dataset_dir = _ensure_dataset(settings)

    console.rule("[bold]2/4 training pipeline (kfp.local)")
    run = _run_pipeline("training", {"source": str(dataset_dir.resolve()), "max_epochs": max_epochs}, settings)
    console.print(f"pipeline finished in {run.seconds:.1f}s; artifacts under {run.pipeline_root}")
    _ensure_champion(settings)

    console.rule("[bold]3/4 KServe servers (predictor + feature transformer, loopback)")
    with start_propensity_stack(
        champion_uri(settings),
        settings.logs_dir,
        feature_store_dir=settings.feature_store_dir,
        env={"LOYALTYLENS_DATA_DIR": str(settings.data_dir.resolve())},
    ) as stack:
        console.print(f"predictor   {stack.predictor.http_url}  (gRPC {stack.predictor.grpc_target})")
        console.print(f"transformer {stack.transformer.http_url}  (calls the predictor over gRPC v2)")
        console.rule("[bold]4/4 offers via run_for_customer (propensity from the KServe predictor)")
        scorer = KServeV2Scorer(stack.predictor.http_url, stack.model_name)
        pipeline = build_pipeline(settings, scorer, dataset_dir)
        online = FeatureStore(settings.feature_store_dir).describe("latest")
        rng = np.random.default_rng(settings.seed)
        ids = sorted(int(c) for c in rng.choice(np.arange(1, online.online_rows + 1), size=show, replace=False))
        pipeline.run_for_customer(ids[0])  # warm-up: first call loads MiniLM and the online table
        _print_decisions([pipeline.run_for_customer(c) for c in ids])
        _check_transformer(stack, ids, pipeline)
    console.print(
        f"\nOutputs: data {dataset_dir} · feature store {settings.feature_store_dir} · MLflow {settings.tracking_uri} "
        f"(`mlflow ui --backend-store-uri {settings.tracking_uri}`) · pipeline artifacts {run.pipeline_root} · "
        f"server logs {settings.logs_dir}"
    )


def _run_pipeline(name: str, arguments: dict, settings: Settings):
    """Run locally with kfp.local's output in a log file; show a spinner, then each task's status."""
    from datetime import datetime

    log_path = settings.logs_dir / f"pipeline-{name}-{datetime.now():%Y%m%d-%H%M%S}.log"
    with console.status(f"running pipeline {name} with kfp.local (log: {log_path})"):
        try:
            run = run_local(name, arguments, settings, log_path)
        except RuntimeError as exc:  # kfp.local names the failed task; the details are in the log
            raise LoyaltyLensError(f"{strip_ansi(str(exc))} (log: {log_path})") from None
    for task, status in run.task_status.items():
        colour = "green" if status == "SUCCESS" else "red"
        console.print(f"  [{colour}]{status:<8}[/] {task}")
    return run


def _ensure_dataset(settings: Settings) -> Path:
    from loyaltylens.data import generate_dataset
    from loyaltylens.data.generator import config_from_settings, default_dataset_dir

    config = config_from_settings(settings)
    dataset_dir = default_dataset_dir(settings)
    console.rule("[bold]1/4 synthetic data")
    if (dataset_dir / "manifest.json").exists():
        console.print(f"reusing {dataset_dir}")
        return dataset_dir
    with Progress(console=console) as progress:
        task = progress.add_task("generating", total=1.0)
        info = generate_dataset(
            config,
            dataset_dir,
            progress=lambda message, done: progress.update(task, completed=done, description=message),
        )
    console.print(f"generated {info.path}: {info.manifest['row_counts']}")
    return dataset_dir


def _ensure_champion(settings: Settings) -> None:
    """The first registered model becomes champion so there is something to serve; later ones stay
    challengers until promoted (`loyaltylens model promote`)."""
    from loyaltylens.propensity.registry import ModelRegistry

    registry = ModelRegistry.from_settings(settings)
    versions = registry.list_versions()
    if not any("champion" in v.aliases for v in versions):
        if not any("challenger" in v.aliases for v in versions):
            raise LoyaltyLensError(
                "no model to serve: the training gate refused the candidate (the reason is the "
                "'loyaltylens.gate' tag of its MLflow run; small populations miss the ECE target)"
            )
        version = registry.promote()
        console.print(f"no champion yet: promoted challenger v{version} to champion")
    _print_registry(settings)


def _print_registry(settings: Settings) -> None:
    from loyaltylens.propensity.registry import ModelRegistry

    table = Table(title=f"registry: {settings.propensity_model_name}")
    for column in ("version", "aliases", "test AUC", "test ECE", "created"):
        table.add_column(column)
    for v in ModelRegistry.from_settings(settings).list_versions():
        table.add_row(
            str(v.version),
            ", ".join(v.aliases),
            _fmt(v.metrics.get("test_auc")),
            _fmt(v.metrics.get("test_ece")),
            f"{v.created:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)


def _scorer(settings: Settings, predictor_url: str | None, model: str | None):
    from loyaltylens.inference.model_source import champion_uri, resolve_model_dir
    from loyaltylens.orchestration.scorers import InProcessScorer, KServeV2Scorer

    if predictor_url:
        return KServeV2Scorer(predictor_url)
    return InProcessScorer(
        resolve_model_dir(model or champion_uri(settings), settings.tracking_uri, settings.models_dir)
    )


def _print_decisions(decisions: list[OfferDecision]) -> None:
    table = Table(title="offers", show_lines=True, caption=f"stage latency in ms: {' / '.join(STAGES)}")
    for column in ("customer", "p(redeem)", "offer", "copy", "latency ms"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        offer = f"#{d.offers[0].offer_id} {d.offers[0].title}" if d.offers else "no offer"
        copy = f"[b]{d.copy.headline}[/b] → {d.copy.cta} ({d.copy.tone})" if d.copy else d.reason
        stages = " / ".join(f"{d.latency_ms[s]:.2f}" for s in STAGES if s in d.latency_ms)
        table.add_row(str(d.customer_id), f"{d.propensity:.3f}", offer, copy, f"{stages}\n= {d.total_ms:.2f}")
    console.print(table)


def _check_transformer(stack, ids: list[int], pipeline) -> None:
    """Score the same customers through the KServe transformer → predictor path and compare."""
    import httpx

    url = f"{stack.transformer.http_url}/v1/models/{stack.model_name}:predict"
    response = httpx.post(url, json={"customer_ids": ids}, timeout=10).raise_for_status().json()
    via_transformer = {p["customer_id"]: p["propensity"] for p in response["predictions"]}
    direct = pipeline.scorer.score(pipeline.store.get_features(ids).values)
    worst = max(abs(via_transformer[c] - float(p)) for c, p in zip(ids, direct, strict=True))
    console.print(f"transformer → predictor path agrees with direct v2 scoring (max abs diff {worst:.1e})")


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
