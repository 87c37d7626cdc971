"""``loyaltylens run`` (``make run``): data → training pipeline (kfp.local) → KServe servers → offers → what the
policy truly earns (the simulator's truth, against random and send-all).

Every piece is a library call; this module only sequences them and prints what happened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from loyaltylens.config import Settings, get_settings

console = Console()


def run_main_job(
    customers: Annotated[int | None, typer.Option(help="Synthetic customers (default: settings).")] = None,
    show: Annotated[int, typer.Option(help="Customers to print offers for.")] = 8,
    max_epochs: Annotated[int | None, typer.Option(help="Training epochs at most (default: settings).")] = None,
) -> None:
    """Generate data → run the training pipeline with kfp.local (features, propensity model, offer index, copy
    generator) → start the KServe servers → offers."""
    import numpy as np

    from loyaltylens.decision.chain import build_decision_chain
    from loyaltylens.decision.cli import print_decisions
    from loyaltylens.decision.scorers import KServeV2Scorer
    from loyaltylens.features.store import FeatureStore
    from loyaltylens.generation.model_store import generator_registry
    from loyaltylens.kfp_runner.cli import run_pipeline
    from loyaltylens.kfp_runner.runner import arguments_from_settings
    from loyaltylens.local.postgres import with_postgres
    from loyaltylens.local.stack import start_propensity_stack
    from loyaltylens.propensity.cli import versions_table
    from loyaltylens.propensity.registry import ModelRegistry
    from loyaltylens.runtime.model_source import champion_uri, resolve_model_dir

    _quiet_library_progress_bars()
    settings = get_settings()
    overrides = {"n_customers": customers, "max_epochs": max_epochs}
    settings = settings.model_copy(update={key: value for key, value in overrides.items() if value is not None})
    settings = with_postgres(settings)  # the offer index: the embedded Postgres unless a URL is set
    dataset_dir = _ensure_dataset(settings)

    console.rule("[bold]2/5 training pipeline (kfp.local)")
    arguments = arguments_from_settings("training", settings, {"source": str(dataset_dir)})
    run = run_pipeline("training", arguments, settings)
    console.print(f"pipeline finished in {run.seconds:.1f}s; artifacts under {run.pipeline_root}")
    registry = ModelRegistry.from_settings(settings)
    for model_registry in (registry, generator_registry(settings)):
        promoted = model_registry.ensure_champion()
        if promoted is not None:
            console.print(f"{model_registry.model_name}: no champion yet, promoted challenger v{promoted}")
    console.print(versions_table(registry.list_versions()))

    console.rule("[bold]3/5 KServe servers (predictor + feature transformer, loopback)")
    store = FeatureStore.from_settings(settings)
    with start_propensity_stack(champion_uri(settings), settings.logs_dir, feature_store=store) as stack:
        console.print(f"predictor   {stack.predictor.http_url}  (gRPC {stack.predictor.grpc_target})")
        console.print(f"transformer {stack.transformer.http_url}  (calls the predictor over gRPC v2)")
        console.rule("[bold]4/5 offers via run_for_customer (propensity from the KServe predictor)")
        # The predictor serves the champion; its margin model comes from the same registered version.
        champion_dir = resolve_model_dir(champion_uri(settings), settings.tracking_uri, settings.models_dir)
        scorer = KServeV2Scorer.for_model_dir(stack.predictor.http_url, champion_dir, stack.model_name)
        margin_model = scorer.margin_model
        chain = build_decision_chain(settings, scorer)
        online = store.describe("latest")
        rng = np.random.default_rng(settings.seed)
        ids = sorted(int(c) for c in rng.choice(np.arange(1, online.online_rows + 1), size=show, replace=False))
        chain.run_for_customer(ids[0])  # warm-up: the first call loads MiniLM, the generator and the online table
        decisions = [chain.run_for_customer(c) for c in ids]
        print_decisions(decisions)
        _check_transformer(stack, decisions, chain)
    if margin_model is not None:
        _print_truth_values(dataset_dir, champion_dir, margin_model, settings)
    console.print(
        f"\nOutputs: data {dataset_dir} · feature store {store} · MLflow {settings.tracking_uri} "
        f"(`mlflow ui --backend-store-uri {settings.tracking_uri}`) · pipeline artifacts {run.pipeline_root} · "
        f"server logs {settings.logs_dir}\n"
        "Next: `loyaltylens dashboard` (registry, policy value, drift, eval runs) · `loyaltylens serve feedback` "
        "(the rating web UI) · `loyaltylens serve offers` (POST /v1/offers) · `loyaltylens eval run` (eval reports "
        f"under {settings.data_dir / 'eval'})"
    )


def _print_truth_values(dataset_dir: Path, champion_dir: Path, margin_model, settings: Settings) -> None:
    """The champion's send decisions on the newest campaign with recorded truth, priced at the truth."""
    from rich.table import Table

    from loyaltylens.decision.scorers import InProcessScorer
    from loyaltylens.decision.truth_value import last_truth_campaign, policy_truth_values

    campaign = last_truth_campaign(dataset_dir)
    console.rule(f"[bold]5/5 the policy against the simulator's truth (campaign {campaign}, every targeted customer)")
    scorer = InProcessScorer(champion_dir)
    with console.status("pricing every eligible offer of every targeted customer at the truth"):
        values = policy_truth_values(dataset_dir, campaign, margin_model, scorer.score, settings)
    table = Table(caption="true incremental margin over sending nothing; 95% bootstrap interval over customers")
    for column in ("policy", "EUR / targeted customer", "95% interval", "sent"):
        table.add_column(column, overflow="fold")
    for value in values:
        table.add_row(
            value.policy, f"{value.eur_per_targeted:+.3f}", f"[{value.low:+.3f}, {value.high:+.3f}]",
            f"{value.share_sent:.0%}",
        )  # fmt: skip
    console.print(table)


def _quiet_library_progress_bars() -> None:
    """The job prints its own steps; MLflow's artifact downloads and transformers' weight loading would add tqdm
    bars that break the tables in a log or an 80-column terminal."""
    import os

    from transformers.utils import logging as transformers_logging

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    transformers_logging.disable_progress_bar()


def _ensure_dataset(settings: Settings) -> Path:
    from loyaltylens.data import acquire_dataset
    from loyaltylens.data.generator import SYNTHETIC_SOURCE, config_from_settings, default_dataset_dir

    dataset_dir = default_dataset_dir(settings)
    console.rule("[bold]1/5 synthetic data")
    if (dataset_dir / "manifest.json").exists():
        console.print(f"reusing {dataset_dir}")
        return dataset_dir
    with Progress(console=console) as progress:
        task = progress.add_task("generating", total=1.0)
        info = acquire_dataset(
            SYNTHETIC_SOURCE,
            config_from_settings(settings),
            dataset_dir,
            progress=lambda message, done: progress.update(task, completed=done, description=message),
        )
    console.print(f"generated {info.path}: {info.manifest['row_counts']}")
    return dataset_dir


def _check_transformer(stack, decisions, chain) -> None:
    """Score the decisions' (customer, best offer) pairs, or the customers for a customer-level model, through
    the KServe transformer → predictor path and compare with the chain's own direct scoring."""
    import httpx
    import numpy as np

    decided = [d for d in decisions if d.offers] if chain.scorer.offer_aware else decisions
    if not decided:
        console.print("no decision with an offer to check the transformer path on")
        return
    body = {"customer_ids": [d.customer_id for d in decided]}
    if chain.scorer.offer_aware:
        body["offer_ids"] = [d.offers[0].offer_id for d in decided]
    url = f"{stack.transformer.http_url}/v1/models/{stack.model_name}:predict"
    response = httpx.post(url, json=body, timeout=10).raise_for_status().json()
    via_transformer = [p["propensity"] for p in response["predictions"]]
    if chain.margin_model is not None:  # the decisions carry p(redeem) as the margin used it: blended, recalibrated
        rows = chain.store.get_pair_features(body["customer_ids"], body["offer_ids"], decided[0].feature_version).values
        via_transformer = chain.margin_model.redeem_probability(rows, np.asarray(via_transformer)).tolist()
    direct = [d.offer_propensities[0] if d.offer_propensities else d.propensity for d in decided]
    worst = max(abs(a - b) for a, b in zip(via_transformer, direct, strict=True))
    console.print(
        f"transformer → predictor path agrees with the chain's direct v2 scoring on {len(decided)} "
        f"{'(customer, offer) pairs' if chain.scorer.offer_aware else 'customers'} (max abs diff {worst:.1e})"
    )
