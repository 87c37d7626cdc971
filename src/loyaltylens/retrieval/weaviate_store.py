"""Weaviate backend (``weaviate-client`` v4): one collection of offers with self-provided MiniLM vectors.

HNSW with cosine distance and the same m / ef_construction / ef as pgvector; BM25 is Weaviate's own
(``query.bm25``) over the offer's search text; hybrid fuses vector and BM25 with Weaviate's ranked
(reciprocal rank) fusion. Objects are keyed by a UUID derived from the offer id, so re-indexing upserts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from loyaltylens.errors import InvalidInputError, ServiceUnavailableError
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
    offer_documents,
    parse_filters,
)
from loyaltylens.retrieval.embeddings import TextEmbedder
from loyaltylens.retrieval.pgvector_store import HnswParams

_TEXT_PROPERTIES = ("title", "text", "search_text")  # word-tokenised: BM25 ranks over search_text
_KEYWORD_PROPERTIES = ("category", "channel", "text_hash")  # whole-value tokens: "in_store" stays one token


class WeaviateRetriever(OfferRetriever):
    """Offers in the Weaviate collection ``collection`` at ``url`` (REST; gRPC on ``grpc_port``, same host)."""

    name = "weaviate"
    modes = SEARCH_MODES

    def __init__(
        self,
        url: str,
        embedder: TextEmbedder,
        collection: str = "Offers",
        grpc_port: int = 50051,
        hnsw: HnswParams | None = None,
        timeout_s: int = 5,
    ):
        import weaviate
        from weaviate.classes.init import AdditionalConfig, Timeout

        self.embedder = embedder
        self.hnsw = hnsw or HnswParams()
        parsed = urlparse(url)
        secure = parsed.scheme == "https"
        try:
            self.client = weaviate.connect_to_custom(
                http_host=parsed.hostname,
                http_port=parsed.port or (443 if secure else 80),
                http_secure=secure,
                grpc_host=parsed.hostname,
                grpc_port=grpc_port,
                grpc_secure=secure,
                additional_config=AdditionalConfig(timeout=Timeout(init=timeout_s, query=timeout_s, insert=60)),
            )
        except Exception as exc:  # the client raises its own connection errors; one message for all
            raise ServiceUnavailableError(f"Weaviate at {url} is unreachable ({exc})") from None
        self.collection = self._ensure_collection(collection[:1].upper() + collection[1:])

    def _ensure_collection(self, name: str):
        from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances

        if self.client.collections.exists(name):
            return self.client.collections.get(name)
        text = [Property(name=p, data_type=DataType.TEXT) for p in _TEXT_PROPERTIES]
        text += [
            Property(name=p, data_type=DataType.TEXT, tokenization=Tokenization.FIELD) for p in _KEYWORD_PROPERTIES
        ]
        return self.client.collections.create(
            name,
            properties=[
                *text,
                Property(name="offer_id", data_type=DataType.INT),
                Property(name="discount_pct", data_type=DataType.NUMBER),
                Property(name="min_spend", data_type=DataType.NUMBER),
                Property(name="start_date", data_type=DataType.DATE),
                Property(name="end_date", data_type=DataType.DATE),
            ],
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    distance_metric=VectorDistances.COSINE,
                    max_connections=self.hnsw.m,
                    ef_construction=self.hnsw.ef_construction,
                    ef=self.hnsw.ef_search,
                )
            ),
        )

    def index(self, offers: pd.DataFrame, embeddings: np.ndarray | None = None, prune: bool = True) -> IndexReport:
        from weaviate.util import generate_uuid5

        started = time.perf_counter()
        documents = offer_documents(offers)
        stored = {
            o.properties["offer_id"]: o.properties["text_hash"]
            for o in self.collection.iterator(return_properties=["offer_id", "text_hash"])
        }
        changed = [i for i, d in enumerate(documents) if stored.get(d.offer_id) != d.text_hash]
        if embeddings is not None:
            vectors = np.asarray(embeddings, dtype=np.float32)[changed]
        else:
            vectors = self.embedder.embed([documents[i].search_text for i in changed]) if changed else []
        with self.collection.batch.fixed_size(batch_size=500) as batch:
            for i, vector in zip(changed, vectors, strict=True):
                d = documents[i]
                batch.add_object(properties=_properties(d), uuid=generate_uuid5(d.offer_id), vector=vector.tolist())
        if self.collection.batch.failed_objects:
            raise InvalidInputError(f"Weaviate rejected offers: {self.collection.batch.failed_objects[0].message}")
        gone = sorted(set(stored) - {d.offer_id for d in documents}) if prune else []
        if gone:
            self.delete(gone)
        return IndexReport(
            embedded=len(changed) if embeddings is None else 0,
            written=len(changed),
            deleted=len(gone),
            unchanged=len(documents) - len(changed),
            seconds=time.perf_counter() - started,
        )

    def delete(self, offer_ids: Sequence[int]) -> int:
        from weaviate.classes.query import Filter

        ids = [int(i) for i in offer_ids]
        if not ids:
            return 0
        return self.collection.data.delete_many(where=Filter.by_property("offer_id").contains_any(ids)).successful

    def count(self) -> int:
        return self.collection.aggregate.over_all(total_count=True).total_count

    def search(
        self, query: str, k: int = 5, filters: OfferFilters | Mapping[str, object] | None = None, mode: str = "dense"
    ) -> list[OfferHit]:
        from weaviate.classes.query import HybridFusion, MetadataQuery

        check_query(query, k)
        check_mode(mode, self.modes, self.name)
        where = _where(parse_filters(filters))
        if mode == "dense":
            return self.search_vector(self.embedder.embed_query(query), k, filters)
        if mode == "sparse":
            result = self.collection.query.bm25(
                query=query,
                query_properties=["search_text"],
                limit=k,
                filters=where,
                return_metadata=MetadataQuery(score=True),
            )
        else:
            result = self.collection.query.hybrid(
                query=query,
                vector=self.embedder.embed_query(query).tolist(),
                query_properties=["search_text"],
                fusion_type=HybridFusion.RANKED,
                limit=k,
                filters=where,
                return_metadata=MetadataQuery(score=True),
            )
        return [hit_from_metadata(o.properties, o.metadata.score or 0.0) for o in result.objects]

    def search_vector(
        self, vector: np.ndarray, k: int = 5, filters: OfferFilters | Mapping[str, object] | None = None
    ) -> list[OfferHit]:
        from weaviate.classes.query import MetadataQuery

        check_k(k)
        vector = check_vector(vector, self.embedder.dimension)
        result = self.collection.query.near_vector(
            near_vector=vector.tolist(),
            limit=k,
            filters=_where(parse_filters(filters)),
            return_metadata=MetadataQuery(distance=True),
        )
        return [hit_from_metadata(o.properties, 1.0 - (o.metadata.distance or 0.0)) for o in result.objects]

    def drop(self) -> None:
        self.client.collections.delete(self.collection.name)

    def close(self) -> None:
        self.client.close()


def _properties(document) -> dict:
    m = document.metadata
    return {
        **{key: m[key] for key in ("title", "text", "category", "channel", "text_hash", "offer_id")},
        "search_text": document.search_text,
        "discount_pct": m["discount_pct"],
        "min_spend": m["min_spend"],
        "start_date": datetime.fromisoformat(m["start_date"]).replace(tzinfo=UTC),
        "end_date": datetime.fromisoformat(m["end_date"]).replace(tzinfo=UTC),
    }


def _where(filters: OfferFilters):
    from weaviate.classes.query import Filter

    clauses = []
    if filters.channels is not None:
        clauses.append(Filter.by_property("channel").contains_any(filters.channels))
    if filters.categories:
        clauses.append(Filter.by_property("category").contains_any(list(filters.categories)))
    if filters.active_from is not None:
        day = datetime.combine(filters.active_from, datetime.min.time(), UTC)
        clauses.append(Filter.by_property("start_date").less_or_equal(day))
    if filters.active_to is not None:
        day = datetime.combine(filters.active_to, datetime.min.time(), UTC)
        clauses.append(Filter.by_property("end_date").greater_or_equal(day))
    return Filter.all_of(clauses) if clauses else None
