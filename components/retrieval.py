"""(Re)index the offer catalog into the retrieval store the settings name."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Output

from components import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def index_offers(dataset: Input[Dataset], index_report: Output[Metrics], retriever: str = "") -> int:
    """Embed the dataset's offers with MiniLM and upsert them into the configured backend (pgvector in the
    Postgres named by ``LOYALTYLENS_POSTGRES_URL``, or Weaviate); offers no longer in the catalog are
    deleted and unchanged ones cost nothing. Nothing is shared with other steps but the service, so the
    step runs in its own pod. Returns the number of offers indexed."""
    from pathlib import Path

    from loyaltylens.config import task_settings
    from loyaltylens.data import load_table
    from loyaltylens.retrieval.factory import build_retriever

    offers = load_table(Path(dataset.path), "offers")
    with build_retriever(task_settings(), retriever or None) as backend:
        report = backend.index(offers)
        total = backend.count()
    for name in ("embedded", "written", "deleted", "unchanged"):
        index_report.log_metric(name, getattr(report, name))
    index_report.log_metric("offers", total)
    index_report.log_metric("seconds", round(report.seconds, 3))
    index_report.metadata["backend"] = backend.name
    return total
