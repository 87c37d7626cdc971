"""Exact cosine search over the offer catalog: the ground-truth baseline every ANN backend is measured against."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from loyaltylens.errors import InvalidInputError
from loyaltylens.retrieval.embeddings import TextEmbedder

ANY_CHANNEL = "any"


@dataclass(frozen=True)
class OfferHit:
    offer_id: int
    score: float
    title: str
    category: str
    discount_pct: float
    channel: str
    text: str
    min_spend: float


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
        self.embeddings = embeddings
        self.embedder = embedder
        self._channels = self.offers["channel"].to_numpy()
        self._start = pd.to_datetime(self.offers["start_date"]).to_numpy()
        self._end = pd.to_datetime(self.offers["end_date"]).to_numpy()
        self._embed_query = lru_cache(maxsize=4096)(self._embed_one)

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

    def _embed_one(self, text: str) -> np.ndarray:
        return self.embedder.embed([text])[0]

    def search(
        self, query: str, k: int = 5, channel: str | None = None, active_at: datetime | date | str | None = None
    ) -> list[OfferHit]:
        """Top-``k`` offers by cosine similarity to ``query``, restricted to the channel and to offers active at
        ``active_at`` (anything ``pd.Timestamp`` reads: a datetime, a date, an ISO string)."""
        if not query.strip():
            raise InvalidInputError("query must not be empty")
        if k < 1:
            raise InvalidInputError(f"k must be >= 1, got {k}")
        scores = self.embeddings @ self._embed_query(query)
        eligible = np.ones(len(scores), dtype=bool)
        if channel is not None:
            eligible &= (self._channels == channel) | (self._channels == ANY_CHANNEL)
        if active_at is not None:
            moment = np.datetime64(pd.Timestamp(active_at).to_datetime64())
            eligible &= (self._start <= moment) & (moment <= self._end)
        candidates = np.flatnonzero(eligible)
        top = candidates[np.argsort(-scores[candidates], kind="stable")[:k]]
        return [self._hit(i, float(scores[i])) for i in top]

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


def customer_query(record: dict) -> str:
    """The retrieval query for a customer, built from their online features (labels, not codes)."""
    category = record["favorite_category"]
    interest = "everyday groceries" if category == "none" else category.replace("_", " ")
    channel = record["channel_preference"].replace("_", " ")
    return f"{interest} offer for a {record['segment']} shopper who buys {channel}"
