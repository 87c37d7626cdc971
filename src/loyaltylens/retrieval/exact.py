"""Exact cosine search over the offer catalog: the ground-truth baseline every ANN backend is measured against."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from loyaltylens.errors import InvalidInputError
from loyaltylens.retrieval.base import (
    OFFER_COLUMNS,
    IndexReport,
    OfferFilters,
    OfferHit,
    OfferRetriever,
    check_k,
    check_mode,
    check_query,
    check_vector,
    offer_documents,
    parse_filters,
)
from loyaltylens.retrieval.embeddings import TextEmbedder
from loyaltylens.retrieval.query import customer_query

__all__ = ["ExactOfferIndex", "ExactRetriever", "OfferHit", "catalog_hash", "customer_query"]


def catalog_hash(offers: pd.DataFrame) -> str:
    """Content hash of the offer texts: the embedding cache key (unchanged offers are never re-embedded)."""
    digest = hashlib.sha256()
    for offer_id, text in zip(offers["offer_id"], offers["text"], strict=True):
        digest.update(f"{offer_id}\x1f{text}\x1e".encode())
    return digest.hexdigest()[:16]


class ExactOfferIndex:
    """All offer embeddings in one matrix; search = one matrix-vector product plus eligibility filters."""

    def __init__(self, offers: pd.DataFrame, embeddings: np.ndarray, embedder: TextEmbedder):
        if len(offers) != len(embeddings):
            raise InvalidInputError(f"{len(offers)} offers but {len(embeddings)} embeddings")
        self.offers = offers.reset_index(drop=True)
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.embedder = embedder
        self._channels = self.offers["channel"].to_numpy()
        self._categories = self.offers["category"].to_numpy()
        self._start = pd.to_datetime(self.offers["start_date"]).to_numpy()
        self._end = pd.to_datetime(self.offers["end_date"]).to_numpy()

    @classmethod
    def build(cls, offers: pd.DataFrame, embedder: TextEmbedder, cache_dir: Path | None = None) -> ExactOfferIndex:
        """Embed the catalog, reusing ``cache_dir/<catalog hash>.npy`` when the offers are unchanged."""
        cache = Path(cache_dir) / f"offers-{catalog_hash(offers)}.npy" if cache_dir else None
        if cache is not None and cache.exists():
            embeddings = np.load(cache)
        else:
            embeddings = embedder.embed(offers["text"].tolist())
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.save(cache, embeddings)
        return cls(offers, embeddings, embedder)

    def search(
        self, query: str, k: int = 5, channel: str | None = None, active_at: datetime | date | str | None = None
    ) -> list[OfferHit]:
        """Top-``k`` offers by cosine similarity to ``query``, restricted to the channel and to offers active at
        ``active_at`` (anything ``pd.Timestamp`` reads: a datetime, a date, an ISO string)."""
        check_query(query, k)
        day = None if active_at is None else pd.Timestamp(active_at).date()
        filters = OfferFilters(channel=channel, active_from=day, active_to=day)
        return self.search_vector(self.embedder.embed_query(query), k, filters)

    def search_vector(self, vector: np.ndarray, k: int, filters: OfferFilters) -> list[OfferHit]:
        """Top-``k`` eligible offers by cosine similarity to a unit-length ``vector``."""
        check_k(k)
        scores = self.embeddings @ check_vector(vector, self.embeddings.shape[1])
        candidates = np.flatnonzero(self._eligible(filters))
        top = candidates[np.argsort(-scores[candidates], kind="stable")[:k]]
        return [self._hit(i, float(scores[i])) for i in top]

    def _eligible(self, filters: OfferFilters) -> np.ndarray:
        eligible = np.ones(len(self.offers), dtype=bool)
        if filters.channel is not None:
            eligible &= np.isin(self._channels, filters.channels)
        if filters.categories:
            eligible &= np.isin(self._categories, list(filters.categories))
        if filters.active_from is not None:
            eligible &= self._start <= np.datetime64(filters.active_from)
        if filters.active_to is not None:
            eligible &= self._end >= np.datetime64(filters.active_to)
        return eligible

    def _hit(self, row: int, score: float) -> OfferHit:
        offer = self.offers.iloc[row]
        return OfferHit(
            offer_id=int(offer["offer_id"]),
            score=score,
            title=str(offer["title"]),
            category=str(offer["category"]),
            discount_pct=float(offer["discount_pct"]),
            channel=str(offer["channel"]),
            text=str(offer["text"]),
            min_spend=float(offer["min_spend"]),
        )


class ExactRetriever(OfferRetriever):
    """The ``OfferRetriever`` over an in-memory ``ExactOfferIndex`` (dense mode only).

    Offers are embedded by their search text (as every backend does) and embeddings are kept per text
    hash, so re-indexing unchanged offers embeds nothing.
    """

    name = "exact"
    modes = ("dense",)

    def __init__(self, embedder: TextEmbedder):
        self.embedder = embedder
        self._index = ExactOfferIndex(_empty_offers(), np.zeros((0, embedder.dimension), np.float32), embedder)
        self._by_hash: dict[str, np.ndarray] = {}

    def index(self, offers: pd.DataFrame, embeddings: np.ndarray | None = None, prune: bool = True) -> IndexReport:
        started = time.perf_counter()
        documents = offer_documents(offers)
        if embeddings is not None:
            self._by_hash.update((d.text_hash, v) for d, v in zip(documents, np.asarray(embeddings), strict=True))
        new = [d for d in documents if d.text_hash not in self._by_hash]
        if new:
            vectors = self.embedder.embed([d.search_text for d in new])
            self._by_hash.update((d.text_hash, v) for d, v in zip(new, vectors, strict=True))
        current = self._index.offers
        kept = current.iloc[0:0] if prune else current[~current["offer_id"].isin(offers["offer_id"])]
        merged = pd.concat([kept, offers[list(current.columns)]], ignore_index=True)
        matrix = np.stack([self._by_hash[d.text_hash] for d in offer_documents(merged)])
        self._index = ExactOfferIndex(merged, matrix, self.embedder)
        deleted = len(set(current["offer_id"]) - set(merged["offer_id"]))
        return IndexReport(
            embedded=len(new), written=len(documents), deleted=deleted, seconds=time.perf_counter() - started
        )

    def delete(self, offer_ids: Sequence[int]) -> int:
        offers = self._index.offers
        gone = offers["offer_id"].isin(list(offer_ids)).to_numpy()
        self._index = ExactOfferIndex(offers[~gone], self._index.embeddings[~gone], self.embedder)
        return int(gone.sum())

    def search(
        self, query: str, k: int = 5, filters: OfferFilters | Mapping[str, object] | None = None, mode: str = "dense"
    ) -> list[OfferHit]:
        check_query(query, k)
        check_mode(mode, self.modes, self.name)
        return self._index.search_vector(self.embedder.embed_query(query), k, parse_filters(filters))

    def search_vector(
        self, vector: np.ndarray, k: int = 5, filters: OfferFilters | Mapping[str, object] | None = None
    ) -> list[OfferHit]:
        return self._index.search_vector(vector, k, parse_filters(filters))

    def count(self) -> int:
        return len(self._index.offers)


def _empty_offers() -> pd.DataFrame:
    from loyaltylens.data.schema import TABLE_SCHEMAS

    return TABLE_SCHEMAS["offers"].empty_table().to_pandas(date_as_object=False)[list(OFFER_COLUMNS)]
