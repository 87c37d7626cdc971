"""LlamaIndex over the pgvector table: a native ``VectorStoreIndex`` / retriever for LlamaIndex users.

LlamaIndex's ``PGVectorStore`` reads the table ``PgVectorRetriever`` writes (same layout, same HNSW index,
same ``hnsw.ef_search``); writes go through ``PgVectorRetriever`` so both see one catalog. Hybrid mode
fuses LlamaIndex's dense and text-search results with the same reciprocal rank fusion as the native
backend (LlamaIndex's own hybrid mode concatenates the two lists without fusing them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from pydantic import PrivateAttr

from loyaltylens.retrieval.base import (
    SEARCH_MODES,
    IndexReport,
    OfferFilters,
    OfferHit,
    OfferRetriever,
    check_k,
    check_mode,
    check_query,
    check_vector,
    hit_from_metadata,
    parse_filters,
    reciprocal_rank_fusion,
)
from loyaltylens.retrieval.embeddings import TextEmbedder
from loyaltylens.retrieval.pgvector_store import HYBRID_DEPTH, TEXT_SEARCH_CONFIG, PgVectorRetriever

_LLAMA_MODES = {"dense": VectorStoreQueryMode.DEFAULT, "sparse": VectorStoreQueryMode.TEXT_SEARCH}


class MiniLMEmbedding(BaseEmbedding):
    """The project's ``TextEmbedder`` as a LlamaIndex embedding model (query embeddings share its cache)."""

    _embedder: TextEmbedder = PrivateAttr()

    def __init__(self, embedder: TextEmbedder, **kwargs):
        super().__init__(model_name="all-MiniLM-L6-v2", embed_batch_size=embedder.batch_size, **kwargs)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed_query(query).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed(texts).tolist()


def sqlalchemy_url(libpq_url: str, driver: str = "psycopg2") -> str:
    """``postgresql://…`` (any libpq URL, also with ``?host=<socket dir>``) as a SQLAlchemy URL for ``driver``.

    psycopg2 by default: LlamaIndex binds ``SET hnsw.ef_search = :value``, which only client-side parameter
    binding (psycopg2) accepts."""
    scheme, rest = libpq_url.split("://", 1)
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a postgresql:// URL: {scheme}://…")
    return f"postgresql+{driver}://{rest}"


def llama_filters(filters: OfferFilters) -> MetadataFilters | None:
    """``OfferFilters`` as LlamaIndex metadata filters over the same ``metadata_`` keys (ISO dates compare
    as strings in LlamaIndex's SQL, which orders them correctly)."""
    clauses: list[MetadataFilter] = []
    if filters.channels is not None:
        clauses.append(MetadataFilter(key="channel", value=filters.channels, operator=FilterOperator.IN))
    if filters.categories:
        clauses.append(MetadataFilter(key="category", value=list(filters.categories), operator=FilterOperator.IN))
    if filters.active_from is not None:
        clauses.append(
            MetadataFilter(key="start_date", value=filters.active_from.isoformat(), operator=FilterOperator.LTE)
        )
    if filters.active_to is not None:
        clauses.append(MetadataFilter(key="end_date", value=filters.active_to.isoformat(), operator=FilterOperator.GTE))
    return MetadataFilters(filters=clauses, condition=FilterCondition.AND) if clauses else None


class LlamaIndexRetriever(OfferRetriever):
    """``OfferRetriever`` whose searches run through LlamaIndex's ``VectorStoreIndex`` retriever."""

    name = "llamaindex"
    modes = SEARCH_MODES

    def __init__(self, store: PgVectorRetriever):
        from llama_index.core import VectorStoreIndex
        from llama_index.vector_stores.postgres import PGVectorStore

        self.store = store
        self.embed_model = MiniLMEmbedding(store.embedder)
        self.vector_store = PGVectorStore(
            connection_string=sqlalchemy_url(store.url),
            async_connection_string=sqlalchemy_url(store.url, "asyncpg"),
            table_name=store.table_name.removeprefix("data_"),
            schema_name=store.schema,
            hybrid_search=True,
            text_search_config=TEXT_SEARCH_CONFIG,
            embed_dim=store.dimension,
            use_jsonb=True,
            perform_setup=False,  # PgVectorRetriever owns the schema; LlamaIndex only reads
            hnsw_kwargs={"hnsw_ef_search": store.hnsw.ef_search},
            create_engine_kwargs={"pool_pre_ping": True, "connect_args": {"connect_timeout": store.connect_timeout}},
        )
        self.vector_index = VectorStoreIndex.from_vector_store(self.vector_store, embed_model=self.embed_model)

    def as_retriever(self, k: int = 5, filters: OfferFilters | None = None, mode: str = "dense"):
        """LlamaIndex's native retriever over the offers (``retrieve(query)`` → ``NodeWithScore``s)."""
        return self.vector_index.as_retriever(
            similarity_top_k=k,
            sparse_top_k=k,
            filters=llama_filters(filters or OfferFilters()),
            vector_store_query_mode=_LLAMA_MODES[mode],
        )

    def index(self, offers: pd.DataFrame, embeddings: np.ndarray | None = None, prune: bool = True) -> IndexReport:
        return self.store.index(offers, embeddings, prune)

    def delete(self, offer_ids: Sequence[int]) -> int:
        return self.store.delete(offer_ids)

    def count(self) -> int:
        return self.store.count()

    def search(
        self, query: str, k: int = 5, filters: OfferFilters | Mapping[str, object] | None = None, mode: str = "dense"
    ) -> list[OfferHit]:
        check_query(query, k)
        check_mode(mode, self.modes, self.name)
        eligible = parse_filters(filters)
        if mode != "hybrid":
            return self._retrieve(query, k, eligible, mode)
        depth = max(k, HYBRID_DEPTH)
        dense = self._retrieve(query, depth, eligible, "dense")
        sparse = self._retrieve(query, depth, eligible, "sparse")
        by_id = {hit.offer_id: hit for hit in (*sparse, *dense)}
        fused = reciprocal_rank_fusion([[h.offer_id for h in dense], [h.offer_id for h in sparse]])
        return [replace(by_id[offer_id], score=score) for offer_id, score in fused[:k]]

    def search_vector(
        self, vector: np.ndarray, k: int = 5, filters: OfferFilters | Mapping[str, object] | None = None
    ) -> list[OfferHit]:
        check_k(k)
        query = VectorStoreQuery(
            query_embedding=check_vector(vector, self.store.dimension).tolist(),
            similarity_top_k=k,
            filters=llama_filters(parse_filters(filters)),
        )
        result = self._reachable(self.vector_store.query, query)
        return [
            hit_from_metadata(node.metadata, score)
            for node, score in zip(result.nodes, result.similarities, strict=True)
        ]

    def _retrieve(self, query: str, k: int, filters: OfferFilters, mode: str) -> list[OfferHit]:
        nodes = self._reachable(self.as_retriever(k, filters, mode).retrieve, query)
        return [hit_from_metadata(n.node.metadata, n.score or 0.0) for n in nodes]

    def _reachable(self, call, *args):
        """``call(*args)``; a lost or refused connection becomes ``ServiceUnavailableError``."""
        from sqlalchemy.exc import OperationalError

        try:
            return call(*args)
        except OperationalError as exc:
            raise self.store.unavailable(exc.orig or exc) from None

    def close(self) -> None:
        engine = getattr(self.vector_store, "_engine", None)
        if engine is not None:
            engine.dispose()
