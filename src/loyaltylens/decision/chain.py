"""``DecisionChain.run_for_customer``: which offer, if any, to send one customer, and its copy.

With the offer-aware model (the production one; its scorer takes (customer, offer) pair rows):
features → retrieval of the customer's eligible candidate offers → pair propensity of each candidate
(one feature-store call, one scoring call) → the likeliest offer, sent if its propensity clears the
threshold → copy. With a customer-level model: features → propensity → (threshold) → retrieval → copy,
the offers in retrieval order.

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

import numpy as np

from loyaltylens.config import Settings
from loyaltylens.decision.margin import MarginModel
from loyaltylens.decision.policy import choose_offer
from loyaltylens.decision.scorers import PropensityScorer
from loyaltylens.features.store import FeatureBatch, FeatureStore
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
    propensity: float  # of the chosen offer (offer-aware model) or of the customer (customer-level model)
    send_offer: bool
    reason: str
    offers: list[OfferHit]  # the best first
    copy: OfferCopy | None
    feature_version: str
    scorer: str
    generator: str
    retriever: str
    latency_ms: dict[str, float] = field(default_factory=dict)
    # The offer-aware model's propensity of each of ``offers``, same order; empty for a customer-level model.
    offer_propensities: list[float] = field(default_factory=list)
    expected_margin: float | None = None  # EUR, of the best offer, when decided by margin

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
        candidates: int = 10,
        margin_model: MarginModel | None = None,
    ):
        """``retriever(name)`` gives the backend ``name`` (``None``: the configured one), e.g. ``Retrievers.get``;
        ``candidates`` eligible offers are scored by an offer-aware model, ``top_k`` of them returned."""
        self.store = store
        self.scorer = scorer
        self.retriever = retriever
        self.generator = generator
        self.threshold = threshold
        self.top_k = top_k
        self.feature_version = feature_version
        self.candidates = max(candidates, top_k)
        self.margin_model = margin_model  # set: offers are chosen by expected margin (docs/DECISION.md)

    def run_for_customer(self, customer_id: int, retriever: str | None = None) -> OfferDecision:
        """Decide for one customer; ``retriever`` picks the retrieval backend for this request (A/B)."""
        timings: dict[str, float] = {}
        with _timed(timings, "features"):
            batch = self.store.get_features([customer_id], self.feature_version)
            record = batch.to_records()[0]
        if self.scorer.offer_aware:
            return self._choose_offer(customer_id, batch, record, self.retriever(retriever), timings)
        with _timed(timings, "propensity"):
            propensity = float(self.scorer.score(batch.values)[0])
        backend = self.retriever(retriever)
        common = dict(self._provenance(customer_id, batch, backend, timings), propensity=propensity)
        if propensity < self.threshold:
            reason = f"propensity {propensity:.3f} below threshold {self.threshold:.3f}"
            return OfferDecision(send_offer=False, reason=reason, offers=[], copy=None, **common)
        with _timed(timings, "retrieval"):
            offers = _eligible_offers(backend, record, batch.as_of, self.top_k)
        if not offers:
            return OfferDecision(send_offer=False, reason="no eligible offer", offers=[], copy=None, **common)
        with _timed(timings, "generation"):
            copy = self.generator.generate(offers[0], record["segment"], record["channel_preference"])
        reason = f"propensity {propensity:.3f} >= threshold {self.threshold:.3f}"
        return OfferDecision(send_offer=True, reason=reason, offers=offers, copy=copy, **common)

    def _provenance(
        self, customer_id: int, batch: FeatureBatch, backend: OfferRetriever, timings: dict[str, float]
    ) -> dict:
        """The ``OfferDecision`` fields that say who was decided for and which versions decided."""
        return dict(
            customer_id=customer_id,
            feature_version=batch.version,
            scorer=self.scorer.name,
            generator=self.generator.version,
            retriever=backend.name,
            latency_ms=timings,
        )

    def _choose_offer(
        self, customer_id: int, batch: FeatureBatch, record: dict, backend: OfferRetriever, timings: dict[str, float]
    ) -> OfferDecision:
        """The offer-aware path: score every eligible candidate offer as a (customer, offer) pair, keep the best."""
        with _timed(timings, "retrieval"):
            candidates = _eligible_offers(backend, record, batch.as_of, self.candidates)
        common = self._provenance(customer_id, batch, backend, timings)
        if not candidates:
            return OfferDecision(
                propensity=0.0, send_offer=False, reason="no eligible offer", offers=[], copy=None, **common
            )
        with _timed(timings, "propensity"):
            pairs = self.store.get_pair_features(
                [customer_id] * len(candidates), [offer.offer_id for offer in candidates], batch.version
            )
            scores = self.scorer.score(pairs.values)
        if self.margin_model is not None:
            return self._choose_by_margin(candidates, pairs.values, scores, record, common, timings)
        order = np.argsort(-scores, kind="stable")[: self.top_k]
        offers, propensities = [candidates[i] for i in order], [float(scores[i]) for i in order]
        best = propensities[0]
        ranked = dict(common, propensity=best, offer_propensities=propensities)
        if best < self.threshold:
            reason = f"best offer's propensity {best:.3f} below threshold {self.threshold:.3f}"
            return OfferDecision(send_offer=False, reason=reason, offers=[], copy=None, **ranked)
        with _timed(timings, "generation"):
            copy = self.generator.generate(offers[0], record["segment"], record["channel_preference"])
        reason = f"offer #{offers[0].offer_id}: propensity {best:.3f} >= threshold {self.threshold:.3f}"
        return OfferDecision(send_offer=True, reason=reason, offers=offers, copy=copy, **ranked)

    def _choose_by_margin(
        self,
        candidates: list[OfferHit],
        rows: np.ndarray,
        scores: np.ndarray,
        record: dict,
        common: dict,
        timings: dict[str, float],
    ) -> OfferDecision:
        """The candidates ranked by expected incremental margin; the best sent only when it earns money."""
        with _timed(timings, "margin"):
            p_redeem, terms = self.margin_model.margins(rows, scores)
            offer_ids = np.array([offer.offer_id for offer in candidates])
            chosen, reason = choose_offer(offer_ids, terms.expected_margin)
        order = np.argsort(-terms.expected_margin, kind="stable")[: self.top_k]
        offers = [candidates[i] for i in order]
        ranked = dict(
            common,
            propensity=float(p_redeem[order[0]]),
            offer_propensities=[float(p_redeem[i]) for i in order],
            expected_margin=float(terms.expected_margin[order[0]]),
        )
        if chosen is None:
            return OfferDecision(send_offer=False, reason=reason, offers=[], copy=None, **ranked)
        with _timed(timings, "generation"):
            copy = self.generator.generate(offers[0], record["segment"], record["channel_preference"])
        return OfferDecision(send_offer=True, reason=reason, offers=offers, copy=copy, **ranked)


def _eligible_offers(backend: OfferRetriever, record: dict, as_of: str, k: int) -> list[OfferHit]:
    """The ``k`` offers retrieval ranks first among those the customer may receive at ``as_of``."""
    query = build_customer_query(record, active_at=date.fromisoformat(as_of))
    mode = HYBRID if HYBRID in backend.modes else "dense"
    return backend.search(query.text, k=k, filters=query.filters, mode=mode)


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
    pipeline's ``index_offers`` step filled), the configured copy writer with its guardrails, and the margin
    model registered with the scorer's model (when it has one, offers are chosen by expected margin)."""
    from loyaltylens.generation.writer import CopyWriter
    from loyaltylens.retrieval.factory import Retrievers

    return DecisionChain(
        store=FeatureStore.from_settings(settings),
        scorer=scorer,
        retriever=Retrievers(settings).get,
        generator=CopyWriter.from_settings(settings),
        threshold=settings.propensity_threshold,
        feature_version=feature_version,
        candidates=settings.offer_candidates,
        margin_model=scorer.margin_model,
    )
