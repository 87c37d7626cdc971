"""The ``OfferRetriever`` interface every backend implements, and what they share: the indexed form of an
offer, search filters, search modes and reciprocal rank fusion.

An offer is indexed as one document: its search text (title, description and category label, the fields
BM25 ranks over) embedded with MiniLM, plus its attributes as metadata (what filters and ``OfferHit`` read).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from loyaltylens.data.schema import OFFER_CHANNEL_ANY
from loyaltylens.errors import InvalidInputError
from loyaltylens.vocabulary import CHANNELS, PRODUCT_CATEGORIES

# The columns of ``data.schema``'s offers table that retrieval stores and filters on (a backend's stored
# catalog holds exactly these, so it can be indexed again elsewhere).
OFFER_COLUMNS: tuple[str, ...] = (
    "offer_id", "category", "discount_pct", "channel", "min_spend", "start_date", "end_date", "title", "text",
)  # fmt: skip
SEARCH_MODES: tuple[str, ...] = ("dense", "sparse", "hybrid")
FILTER_KEYS: tuple[str, ...] = ("channel", "category", "active_at", "active_from", "active_to")
RRF_K = 60  # the constant of Cormack et al. (2009); damps the weight of the very first ranks


@dataclass(frozen=True)
class OfferHit:
    """One retrieved offer and its score (cosine similarity, ts_rank or fused rank score, by mode)."""

    offer_id: int
    score: float
    title: str
    category: str
    discount_pct: float
    channel: str
    text: str
    min_spend: float


@dataclass(frozen=True)
class OfferDocument:
    """One offer as every backend stores it."""

    offer_id: int
    search_text: str
    metadata: dict  # JSON-safe: offer_id, title, text, category, discount_pct, channel, min_spend, dates, text_hash

    @property
    def node_id(self) -> str:
        return str(self.offer_id)

    @property
    def text_hash(self) -> str:
        return self.metadata["text_hash"]


def offer_documents(offers: pd.DataFrame) -> list[OfferDocument]:
    """The documents of an ``offers`` table (columns as ``data.schema``); ``InvalidInputError`` on a missing
    column, a duplicate id, or an unknown channel or category."""
    missing = [c for c in OFFER_COLUMNS if c not in offers.columns]
    if missing:
        raise InvalidInputError(f"offers lack column(s) {', '.join(missing)}; expected {', '.join(OFFER_COLUMNS)}")
    duplicated = offers["offer_id"][offers["offer_id"].duplicated()].unique().tolist()
    if duplicated:
        raise InvalidInputError(f"duplicate offer_id(s) {duplicated[:10]}")
    _check_values("channel", offers["channel"], (*CHANNELS, OFFER_CHANNEL_ANY))
    _check_values("category", offers["category"], PRODUCT_CATEGORIES)
    starts = pd.to_datetime(offers["start_date"]).dt.strftime("%Y-%m-%d")
    ends = pd.to_datetime(offers["end_date"]).dt.strftime("%Y-%m-%d")
    documents = []
    for row, start, end in zip(offers.itertuples(index=False), starts, ends, strict=True):
        search_text = f"{row.title}. {row.text} Category: {row.category.replace('_', ' ')}."
        metadata = {
            "offer_id": int(row.offer_id),
            "title": str(row.title),
            "text": str(row.text),
            "category": str(row.category),
            "discount_pct": float(row.discount_pct),
            "channel": str(row.channel),
            "min_spend": float(row.min_spend),
            "start_date": start,
            "end_date": end,
            "text_hash": hashlib.sha256(search_text.encode()).hexdigest()[:16],
        }
        documents.append(OfferDocument(int(row.offer_id), search_text, metadata))
    return documents


def hit_from_metadata(metadata: Mapping, score: float) -> OfferHit:
    """The ``OfferHit`` of a stored document's metadata."""
    return OfferHit(
        offer_id=int(metadata["offer_id"]),
        score=float(score),
        title=metadata["title"],
        category=metadata["category"],
        discount_pct=float(metadata["discount_pct"]),
        channel=metadata["channel"],
        text=metadata["text"],
        min_spend=float(metadata["min_spend"]),
    )


def _check_values(column: str, values: pd.Series, allowed: Sequence[str]) -> None:
    unknown = sorted(set(values.astype(str)) - set(allowed))
    if unknown:
        raise InvalidInputError(f"unknown {column}(s) {unknown}; expected one of {', '.join(allowed)}")


@dataclass(frozen=True)
class OfferFilters:
    """Eligibility: offers on ``channel`` (or on every channel), in one of ``categories`` (any if empty),
    active through the whole window ``[active_from, active_to]`` (either end may be open)."""

    channel: str | None = None
    categories: tuple[str, ...] = ()
    active_from: date | None = None
    active_to: date | None = None

    @property
    def channels(self) -> list[str] | None:
        """The offer channels that reach a customer on ``channel``."""
        return None if self.channel is None else [self.channel, OFFER_CHANNEL_ANY]

    @property
    def is_empty(self) -> bool:
        return self == OfferFilters()


def parse_filters(filters: OfferFilters | Mapping[str, object] | None) -> OfferFilters:
    """Filters from a mapping (``channel``, ``category`` (one or a list), ``active_at``, ``active_from``,
    ``active_to``; dates as ISO strings, dates or datetimes). Unknown keys or values: ``InvalidInputError``."""
    if filters is None:
        return OfferFilters()
    if isinstance(filters, OfferFilters):
        return filters
    values = dict(filters)
    unknown = sorted(set(values) - set(FILTER_KEYS))
    if unknown:
        raise InvalidInputError(f"unknown filter(s) {', '.join(unknown)}; filters are {', '.join(FILTER_KEYS)}")
    channel = values.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise InvalidInputError(f"unknown channel '{channel}'; expected one of {', '.join(CHANNELS)}")
    category = values.get("category") or ()
    categories = (category,) if isinstance(category, str) else tuple(category)
    _check_values("category", pd.Series(categories, dtype=object), PRODUCT_CATEGORIES)
    active_at = _as_date(values.get("active_at"), "active_at")
    active_from = _as_date(values.get("active_from"), "active_from") or active_at
    active_to = _as_date(values.get("active_to"), "active_to") or active_at
    if active_from and active_to and active_from > active_to:
        raise InvalidInputError(f"active_from {active_from} is after active_to {active_to}")
    return OfferFilters(channel=channel, categories=categories, active_from=active_from, active_to=active_to)


def _as_date(value: object, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return pd.Timestamp(str(value)).date()
    except ValueError:
        raise InvalidInputError(f"{name} must be a date (YYYY-MM-DD), got '{value}'") from None


def check_mode(mode: str, supported: Sequence[str], backend: str) -> str:
    if mode not in supported:
        raise InvalidInputError(f"search mode '{mode}' is not one of {backend}'s modes: {', '.join(supported)}")
    return mode


def check_query(query: str, k: int) -> None:
    if not query or not query.strip():
        raise InvalidInputError("query must not be empty")
    check_k(k)


def check_k(k: int) -> None:
    if k < 1:
        raise InvalidInputError(f"k must be >= 1, got {k}")


def check_vector(vector: np.ndarray, dimension: int) -> np.ndarray:
    """``vector`` as float32 ``[dimension]``; a clear error for a wrong shape or non-finite values."""
    vector = np.asarray(vector, dtype=np.float32)
    if vector.ndim != 1 or vector.shape[0] != dimension:
        raise InvalidInputError(f"query vector has shape {list(vector.shape)}; this index stores {dimension}-d vectors")
    if not np.isfinite(vector).all():
        raise InvalidInputError("query vector contains NaN or inf")
    return vector


def reciprocal_rank_fusion(rankings: Iterable[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse ranked id lists: ``score(id) = sum over lists of 1 / (k + rank)`` (rank from 1); best first,
    ties broken by first appearance."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


@dataclass
class IndexReport:
    """What an ``index`` call did: offers embedded (new or changed text), rows written, deleted, untouched."""

    embedded: int = 0
    written: int = 0
    deleted: int = 0
    unchanged: int = 0
    seconds: float = 0.0


class OfferRetriever(ABC):
    """Index the offer catalog and search it. ``search`` returns at most ``k`` hits, best first."""

    name: str = "retriever"
    modes: tuple[str, ...] = ("dense",)

    @abstractmethod
    def index(self, offers: pd.DataFrame, embeddings: np.ndarray | None = None, prune: bool = True) -> IndexReport:
        """Upsert ``offers`` (embedding only new or changed texts unless ``embeddings`` are given, row-aligned);
        with ``prune`` the index becomes exactly this catalog (offers not in it are deleted)."""

    @abstractmethod
    def delete(self, offer_ids: Sequence[int]) -> int:
        """Delete offers by id; returns how many existed."""

    @abstractmethod
    def search(
        self,
        query: str,
        k: int = 5,
        filters: OfferFilters | Mapping[str, object] | None = None,
        mode: str = "dense",
    ) -> list[OfferHit]:
        """Top-``k`` eligible offers for a text query."""

    @abstractmethod
    def search_vector(
        self, vector: np.ndarray, k: int = 5, filters: OfferFilters | Mapping[str, object] | None = None
    ) -> list[OfferHit]:
        """Top-``k`` eligible offers by cosine similarity to an embedding."""

    @abstractmethod
    def count(self) -> int:
        """Offers in the index."""

    def close(self) -> None:  # noqa: B027 - a hook: backends without connections need not override it
        """Release connections; the default holds none."""

    def __enter__(self) -> OfferRetriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
