"""``loyaltylens offers for``: run the decision chain for customers and print the decisions."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loyaltylens.config import Settings, get_settings
from loyaltylens.decision.chain import OfferDecision
from loyaltylens.retrieval.cli import app as retrieval_app

console = Console()
STAGES = ("features", "retrieval", "propensity", "margin", "generation")
app = typer.Typer(no_args_is_help=True)
# `offers index|search|eval` (the offer catalog's retrieval index) sit beside `offers for`.
app.registered_commands.extend(retrieval_app.registered_commands)


@app.command("for")
def offers_for(
    customer_ids: Annotated[list[int], typer.Argument(help="Customer ids.")],
    predictor_url: Annotated[
        str | None, typer.Option(help="KServe predictor base URL (v2 REST); in-process model when omitted.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model dir or models:/ URI; default: the champion.")] = None,
    feature_version: Annotated[str, typer.Option(help="Feature-store version.")] = "latest",
    retriever: Annotated[
        str | None, typer.Option(help="Retrieval backend for these requests (default: settings).")
    ] = None,
) -> None:
    """Run run_for_customer for each customer and print the decisions with stage latencies."""
    from loyaltylens.decision.chain import build_decision_chain
    from loyaltylens.local.postgres import with_postgres

    settings = with_postgres(get_settings())  # the offer index: the embedded Postgres unless a URL is set
    chain = build_decision_chain(
        settings, scorer_for(settings, predictor_url, model), feature_version, warm_queries=False
    )
    print_decisions([chain.run_for_customer(c, retriever) for c in customer_ids])


def scorer_for(settings: Settings, predictor_url: str | None, model: str | None):
    """A KServe v2 scorer for ``predictor_url``, else the model (default: the champion) in-process. Either way
    the margin model is the one registered with ``model`` (default: the champion, which the predictor must serve)."""
    from loyaltylens.decision.scorers import InProcessScorer, KServeV2Scorer
    from loyaltylens.runtime.model_source import champion_uri, resolve_model_dir

    model_dir = resolve_model_dir(model or champion_uri(settings), settings.tracking_uri, settings.models_dir)
    if predictor_url:
        return KServeV2Scorer.for_model_dir(predictor_url, model_dir)
    return InProcessScorer(model_dir)


def print_decisions(decisions: list[OfferDecision]) -> None:
    table = Table(title="offers", show_lines=True, caption=f"stage latency in ms: {' / '.join(STAGES)}")
    for column in ("customer", "p(redeem)", "expected margin", "offer", "copy / reason", "latency ms"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        offer = f"#{d.offers[0].offer_id} {d.offers[0].title}" if d.offers else "no offer"
        copy = f"[b]{d.copy.headline}[/b] → {d.copy.cta} ({d.copy.tone})\n{d.reason}" if d.copy else d.reason
        copy += "".join(f"\n[yellow]fallback[/yellow] {escape(f)}" for f in d.fallbacks)
        margin = "" if d.expected_margin is None else f"{d.expected_margin:+.2f} EUR"
        stages = " / ".join(f"{d.latency_ms[s]:.2f}" for s in STAGES if s in d.latency_ms)
        table.add_row(str(d.customer_id), f"{d.propensity:.3f}", margin, offer, copy, f"{stages}\n= {d.total_ms:.2f}")
    console.print(table)
