"""``DecisionChain.run_for_customer``: features → propensity → (threshold) → offer retrieval → copy.

Each stage is timed; the result says which versions produced it. Retrieval is the backend the settings
name (pgvector by default) or the one a request asks for (the ``retriever`` A/B parameter), hybrid
(full text + vector) where the backend has it; the copy comes from the configured generator behind its
guardrails, with the template copy as the safe fallback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from loyaltylens.config import Settings
from loyaltylens.decision.scorers import PropensityScorer
from loyaltylens.features.store import FeatureStore
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.retrieval.base import OfferHit, OfferRetriever
from loyaltylens.retrieval.query import build_customer_query

HYBRID = "hybrid"  # full text + vector with rank fusion: the best mode where a backend has it (BENCHMARKS.md)


class CopyGenerator(Protocol):
    """What the chain needs of a copy generator: the template generator and the guarded CopyWriter both fit."""

    version: str

    def generate(self, offer: OfferHit, segment: str, channel: str) -> OfferCopy: ...


@dataclass
class OfferDecision:
    customer_id: int
    propensity: float
    send_offer: bool
    reason: str
    offers: list[OfferHit]
    copy: OfferCopy | None
    feature_version: str
    scorer: str
    generator: str
    retriever: str
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def total_ms(self) -> float:
        return sum(self.latency_ms.values())


class DecisionChain:
    def __init__(
        self,
        store: FeatureStore,
        scorer: PropensityScorer,
        retriever: Callable[[str | None], OfferRetriever],
        generator: CopyGenerator,
        threshold: float,
        top_k: int = 3,
        feature_version: str = "latest",
    ):
        """``retriever(name)`` gives the backend ``name`` (``None``: the configured one), e.g. ``Retrievers.get``."""
        self.store = store
        self.scorer = scorer
        self.retriever = retriever
        self.generator = generator
        self.threshold = threshold
        self.top_k = top_k
        self.feature_version = feature_version

    def run_for_customer(self, customer_id: int, retriever: str | None = None) -> OfferDecision:
        """Decide for one customer; ``retriever`` picks the retrieval backend for this request (A/B)."""
        timings: dict[str, float] = {}
        with _timed(timings, "features"):
            batch = self.store.get_features([customer_id], self.feature_version)
            record = batch.to_records()[0]
        with _timed(timings, "propensity"):
            propensity = float(self.scorer.score(batch.values)[0])
        backend = self.retriever(retriever)
        common = dict(
            customer_id=customer_id,
            propensity=propensity,
            feature_version=batch.version,
            scorer=self.scorer.name,
            generator=self.generator.version,
            retriever=backend.name,
            latency_ms=timings,
        )
        if propensity < self.threshold:
            reason = f"propensity {propensity:.3f} below threshold {self.threshold:.3f}"
            return OfferDecision(send_offer=False, reason=reason, offers=[], copy=None, **common)
        with _timed(timings, "retrieval"):
            query = build_customer_query(record, active_at=date.fromisoformat(batch.as_of))
            mode = HYBRID if HYBRID in backend.modes else "dense"
            offers = backend.search(query.text, k=self.top_k, filters=query.filters, mode=mode)
        if not offers:
            return OfferDecision(send_offer=False, reason="no eligible offer", offers=[], copy=None, **common)
        with _timed(timings, "generation"):
            copy = self.generator.generate(offers[0], record["segment"], record["channel_preference"])
        reason = f"propensity {propensity:.3f} >= threshold {self.threshold:.3f}"
        return OfferDecision(send_offer=True, reason=reason, offers=offers, copy=copy, **common)


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = (time.perf_counter() - start) * 1000.0


def build_decision_chain(
    settings: Settings, scorer: PropensityScorer, feature_version: str = "latest"
) -> DecisionChain:
    """Wire the stages from settings: the feature store, the retrieval backends (the offer index the training
    pipeline's ``index_offers`` step filled) and the configured copy writer with its guardrails."""
    from loyaltylens.generation.writer import CopyWriter
    from loyaltylens.retrieval.factory import Retrievers

    return DecisionChain(
        store=FeatureStore.from_settings(settings),
        scorer=scorer,
        retriever=Retrievers(settings).get,
        generator=CopyWriter.from_settings(settings),
        threshold=settings.propensity_threshold,
        feature_version=feature_version,
    )
