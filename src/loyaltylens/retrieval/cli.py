"""``offers index|search|eval``: a Typer app the top-level CLI mounts into its ``offers`` group.

The work lives in the library (``factory``, ``evaluate``); these commands parse options and print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import InvalidInputError
from loyaltylens.retrieval.base import SEARCH_MODES

console = Console()
app = typer.Typer(no_args_is_help=True, help="Index and search the offer catalog; evaluate retrieval quality.")

RetrieverOption = Annotated[
    str | None, typer.Option("--retriever", help="pgvector | llamaindex | weaviate | exact (default: settings).")
]
DatasetOption = Annotated[
    Path | None, typer.Option(help="Dataset directory whose offers are used (default: the settings' dataset).")
]


def _settings() -> Settings:
    """The settings, with the embedded Postgres started when no LOYALTYLENS_POSTGRES_URL is set."""
    from loyaltylens.local.postgres import with_postgres

    return with_postgres(get_settings())


def _dataset(dataset: Path | None) -> Path:
    from loyaltylens.data.generator import default_dataset_dir

    return dataset or default_dataset_dir(get_settings())


@app.command("index")
def index_command(dataset: DatasetOption = None, retriever: RetrieverOption = None) -> None:
    """Embed and (re)index the dataset's offer catalog; unchanged offers cost nothing."""
    from loyaltylens.data import load_table
    from loyaltylens.retrieval.factory import build_retriever

    offers = load_table(_dataset(dataset), "offers")
    with build_retriever(_settings(), retriever) as backend:
        report = backend.index(offers)
        console.print(
            f"{backend.name}: {backend.count()} offers indexed · embedded {report.embedded} · written "
            f"{report.written} · deleted {report.deleted} · unchanged {report.unchanged} · {report.seconds:.2f}s",
            soft_wrap=True,
        )


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="Free-text query.")],
    k: Annotated[int, typer.Option("-k", help="Offers to return.")] = 5,
    mode: Annotated[str, typer.Option(help=" | ".join(SEARCH_MODES))] = "hybrid",
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", help="key=value: channel, category, active_at, active_from, active_to."),
    ] = None,
    retriever: RetrieverOption = None,
) -> None:
    """Search the indexed offers."""
    from loyaltylens.retrieval.factory import build_retriever

    filters = _parse_pairs(filter_ or [])
    with build_retriever(_settings(), retriever) as backend:
        hits = backend.search(query, k, filters, mode)
    table = Table(title=f"{backend.name} · {mode} · {query!r}")
    for column in ("offer", "score", "category", "channel", "discount", "text"):
        table.add_column(column, overflow="fold")
    for hit in hits:
        table.add_row(
            str(hit.offer_id), f"{hit.score:.4f}", hit.category, hit.channel, f"{hit.discount_pct:.0f}%", hit.text
        )
    console.print(table)


@app.command("eval")
def eval_command(
    dataset: DatasetOption = None,
    retriever: RetrieverOption = None,
    feature_version: Annotated[str, typer.Option(help="Feature-store version for the customers' state.")] = "latest",
    customers: Annotated[int, typer.Option(help="Held-out customers to evaluate at most.")] = 300,
) -> None:
    """P@5 (category relevance), NDCG@10 and recall@50 (true redemption probabilities) per search mode."""
    from loyaltylens.data import load_table
    from loyaltylens.features.store import FeatureStore
    from loyaltylens.retrieval.evaluate import evaluate_retriever
    from loyaltylens.retrieval.factory import build_retriever

    settings = _settings()
    dataset_dir = _dataset(dataset)
    ids = load_table(dataset_dir, "customers")["customer_id"].to_numpy()
    records = FeatureStore.from_settings(settings).get_features(ids, feature_version).to_records()
    with build_retriever(settings, retriever) as backend:
        quality = evaluate_retriever(backend, dataset_dir, records, backend.modes, customers)
    table = Table(title=f"retrieval quality · {backend.name} · {quality[0].customers} held-out customers")
    for column in ("mode", "P@5 category", "NDCG@10 truth", "recall@50 truth"):
        table.add_column(column)
    for q in quality:
        table.add_row(q.mode, f"{q.p_at_5_category:.3f}", f"{q.ndcg_at_10_truth:.3f}", f"{q.recall_at_50_truth:.3f}")
    console.print(table)


def _parse_pairs(pairs: list[str]) -> dict[str, str | list[str]]:
    parsed: dict[str, str | list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise InvalidInputError(f"--filter takes key=value, got '{pair}'")
        if key == "category":
            parsed.setdefault("category", []).append(value)  # repeatable: any of these categories
        else:
            parsed[key] = value
    return parsed
