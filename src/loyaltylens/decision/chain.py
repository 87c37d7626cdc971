"""``DecisionChain.run_for_customer``: features → propensity → (threshold) → offer retrieval → copy.

Each stage is timed; the result says which versions produced it. The walking skeleton uses exact
retrieval and the template generator; later stages (recommender, LLM generation, guardrails) are added
here as steps of the same chain.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from loyaltylens.config import Settings
from loyaltylens.decision.scorers import PropensityScorer
from loyaltylens.features.store import FeatureStore
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.template import TemplateGenerator
from loyaltylens.retrieval.exact import ExactOfferIndex, OfferHit, customer_query


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
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def total_ms(self) -> float:
        return sum(self.latency_ms.values())


class DecisionChain:
    def __init__(
        self,
        store: FeatureStore,
        scorer: PropensityScorer,
        retriever: ExactOfferIndex,
        generator: TemplateGenerator,
        threshold: float,
        top_k: int = 3,
        feature_version: str = "latest",
    ):
        self.store = store
        self.scorer = scorer
        self.retriever = retriever
        self.generator = generator
        self.threshold = threshold
        self.top_k = top_k
        self.feature_version = feature_version

    def run_for_customer(self, customer_id: int) -> OfferDecision:
        timings: dict[str, float] = {}
        with _timed(timings, "features"):
            batch = self.store.get_features([customer_id], self.feature_version)
            record = batch.to_records()[0]
        with _timed(timings, "propensity"):
            propensity = float(self.scorer.score(batch.values)[0])
        common = dict(
            customer_id=customer_id,
            propensity=propensity,
            feature_version=batch.version,
            scorer=self.scorer.name,
            generator=self.generator.version,
            latency_ms=timings,
        )
        if propensity < self.threshold:
            reason = f"propensity {propensity:.3f} below threshold {self.threshold:.3f}"
            return OfferDecision(send_offer=False, reason=reason, offers=[], copy=None, **common)
        with _timed(timings, "retrieval"):
            offers = self.retriever.search(
                customer_query(record),
                k=self.top_k,
                channel=record["channel_preference"],
                active_at=batch.as_of,
            )
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
    settings: Settings, scorer: PropensityScorer, dataset_dir: Path, feature_version: str = "latest"
) -> DecisionChain:
    """Wire the skeleton's stages from settings: the feature store, the offer catalog of ``dataset_dir``
    (embeddings cached by content hash), and the template generator over ``prompts/offer_copy.yaml``."""
    from loyaltylens.data import load_table
    from loyaltylens.generation.prompts import load_prompt
    from loyaltylens.retrieval.embeddings import TextEmbedder

    retriever = ExactOfferIndex.build(load_table(dataset_dir, "offers"), TextEmbedder(), settings.retrieval_dir)
    return DecisionChain(
        store=FeatureStore.from_settings(settings),
        scorer=scorer,
        retriever=retriever,
        generator=TemplateGenerator(load_prompt(settings.prompts_dir, "offer_copy")),
        threshold=settings.propensity_threshold,
        feature_version=feature_version,
    )
