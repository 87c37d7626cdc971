"""Choose a retrieval backend from settings, or per request (the ``retriever`` A/B parameter).

``build_retriever(settings)`` gives the configured backend; ``build_retriever(settings, "llamaindex")``
another one. ``Retrievers`` keeps one instance per backend (pools and clients are costly to open) for a
decision chain that picks the backend per request.
"""

from __future__ import annotations

from loyaltylens.config import Settings
from loyaltylens.errors import InvalidInputError, LoyaltyLensError
from loyaltylens.retrieval.base import OfferRetriever
from loyaltylens.retrieval.embeddings import TextEmbedder

BACKENDS: tuple[str, ...] = ("pgvector", "llamaindex", "weaviate", "exact")


def build_retriever(
    settings: Settings, backend: str | None = None, embedder: TextEmbedder | None = None
) -> OfferRetriever:
    """A connected retriever for ``backend`` (default ``settings.retriever``).

    ``exact`` searches, in memory, the vectors stored in the pgvector table: the same catalog and embeddings
    as the ANN backends, so recall against it measures the index alone.
    """
    backend = backend or settings.retriever
    if backend not in BACKENDS:
        raise InvalidInputError(f"unknown retriever '{backend}'; expected one of {', '.join(BACKENDS)}")
    embedder = embedder or TextEmbedder(query_cache_size=settings.query_cache_size)
    if backend == "weaviate":
        from loyaltylens.retrieval.weaviate_store import WeaviateRetriever

        if not settings.weaviate_url:
            raise InvalidInputError("retriever 'weaviate' needs LOYALTYLENS_WEAVIATE_URL")
        return WeaviateRetriever(
            settings.weaviate_url,
            embedder,
            collection=settings.offers_table,
            grpc_port=settings.weaviate_grpc_port,
            hnsw=_hnsw(settings),
            timeout_s=settings.postgres_connect_timeout_s,
        )
    store = pgvector_retriever(settings, embedder)
    if backend == "pgvector":
        return store
    if backend == "llamaindex":
        from loyaltylens.retrieval.llamaindex_store import LlamaIndexRetriever

        return LlamaIndexRetriever(store)
    return exact_from_store(store)


def pgvector_retriever(settings: Settings, embedder: TextEmbedder):
    """The pgvector store in the Postgres ``settings.postgres_url`` names. Starting a local server is the
    entry point's job (``loyaltylens.local.postgres.with_postgres``), not the library's."""
    from loyaltylens.retrieval.pgvector_store import PgVectorRetriever

    if not settings.postgres_url:
        raise LoyaltyLensError(
            "the pgvector, llamaindex and exact retrievers need a Postgres: set LOYALTYLENS_POSTGRES_URL "
            "(`loyaltylens services up` starts a local one)"
        )
    return PgVectorRetriever(
        settings.postgres_url,
        embedder,
        table=settings.offers_table,
        hnsw=_hnsw(settings),
        connect_timeout=settings.postgres_connect_timeout_s,
    )


def exact_from_store(store) -> OfferRetriever:
    """An ``ExactRetriever`` holding a snapshot of ``store``'s catalog and embeddings."""
    import pandas as pd

    from loyaltylens.retrieval.exact import ExactRetriever

    metadata, embeddings = store.all_embeddings()
    exact = ExactRetriever(store.embedder)
    if metadata:
        offers = pd.DataFrame(metadata).drop(columns="text_hash")
        exact.index(offers, embeddings)
    store.close()
    return exact


def _hnsw(settings: Settings):
    from loyaltylens.retrieval.pgvector_store import HnswParams

    return HnswParams(
        m=settings.hnsw_m, ef_construction=settings.hnsw_ef_construction, ef_search=settings.hnsw_ef_search
    )


class Retrievers:
    """One lazily built retriever per backend, sharing one embedder (and its query cache)."""

    def __init__(self, settings: Settings, embedder: TextEmbedder | None = None):
        self.settings = settings
        self.embedder = embedder or TextEmbedder(query_cache_size=settings.query_cache_size)
        self._built: dict[str, OfferRetriever] = {}

    def get(self, backend: str | None = None) -> OfferRetriever:
        name = backend or self.settings.retriever
        if name not in self._built:
            self._built[name] = build_retriever(self.settings, name, self.embedder)
        return self._built[name]

    def close(self) -> None:
        for retriever in self._built.values():
            retriever.close()
        self._built.clear()
