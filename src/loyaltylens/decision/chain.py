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

Fallbacks are reported in ``OfferDecision.fallbacks``: retrieval down -> candidates from the customer's purchase
history and category popularity (:func:`history_candidates`); the generator down or its answers invalid -> the
safe template copy (the ``CopyWriter``'s own fallback). The predictor down is a :class:`ServiceUnavailableError`,
never a default score. Every stage writes one log line (``loyaltylens.decision.stages``) carrying the request
id of :data:`loyaltylens.decision.telemetry.REQUEST_ID`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import numpy as np

from loyaltylens.config import Settings
from loyaltylens.data.offers import CATEGORY_COPY
from loyaltylens.data.schema import OFFER_CHANNEL_ANY, OFFER_CHANNELS
from loyaltylens.decision.margin import MarginModel
from loyaltylens.decision.policy import choose_offer
from loyaltylens.decision.scorers import PropensityScorer
from loyaltylens.decision.telemetry import REQUEST_ID
from loyaltylens.errors import InvalidInputError, ServiceUnavailableError
from loyaltylens.features.definitions import OFFER_COLUMN, PAIR_FEATURE_NAMES
from loyaltylens.features.store import FeatureBatch, FeatureStore
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.prompts import PromptSpec
from loyaltylens.generation.writer import CopyWriter
from loyaltylens.retrieval.base import OfferHit, OfferRetriever
from loyaltylens.retrieval.query import build_customer_query
from loyaltylens.vocabulary import PRODUCT_CATEGORIES

HYBRID = "hybrid"  # full text + vector with rank fusion: the best mode where a backend has it (BENCHMARKS.md)
HISTORY_FALLBACK = "history+popularity"  # the candidate source when retrieval is down
stage_log = logging.getLogger("loyaltylens.decision.stages")


class CopyGenerator(Protocol):
    """What the chain needs of a copy generator: the template generator and the guarded CopyWriter both fit."""

    version: str
    prompt: PromptSpec

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
    fallbacks: list[str] = field(default_factory=list)  # "<stage>: what was used instead, and why"
    prompt: str = ""  # the prompt's name@version the copy was written under

    @property
    def total_ms(self) -> float:
        return sum(self.latency_ms.values())


class _OneThreadScope:
    """The native thread pools held at one thread while a decision runs. OpenMP's count is per calling thread, so
    each decision limits its own; torch's intra-op count and BLAS's are process-wide, so concurrent decisions (the
    offer API's worker threads) share one limit: the first decision in applies it, the last one out restores the
    counts it found. Restoring those per decision would let one decision undo the limit under another and leave
    the process at whatever count the last to finish had seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._restore: Callable[[], None] | None = None
        self._controller = None  # threadpoolctl's view of the loaded libraries, taken at the first decision

    @contextmanager
    def __call__(self):
        with self._lock:
            if self._controller is None:
                from threadpoolctl import ThreadpoolController

                self._controller = ThreadpoolController()
            if self._active == 0:
                self._restore = self._limit_process_wide()
            self._active += 1
        try:
            with self._controller.limit(limits=1, user_api="openmp"):
                yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0 and self._restore is not None:
                    self._restore()
                    self._restore = None

    def _limit_process_wide(self) -> Callable[[], None]:
        limiter = self._controller.limit(limits=1, user_api="blas")
        torch = sys.modules.get("torch")  # its intra-op pool has a count of its own (and MKL's)
        threads = torch.get_num_threads() if torch else 1
        if torch:
            torch.set_num_threads(1)

        def restore() -> None:
            limiter.restore_original_limits()
            if torch:
                torch.set_num_threads(threads)

        return restore


_ONE_THREAD = _OneThreadScope()


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
        self._warmed = False  # the first decision loads the native libraries whose pools are then limited

    def run_for_customer(self, customer_id: int, retriever: str | None = None) -> OfferDecision:
        """Decide for one customer; ``retriever`` picks the retrieval backend for this request (A/B).

        Raises:
            UnknownCustomerError: not in the feature version.
            ServiceUnavailableError: the predictor cannot be reached (no decision without a score).
        """
        with self._one_thread():
            return self._decide(customer_id, retriever)

    @contextmanager
    def _one_thread(self):
        """Run a decision on one intra-op thread. Its native work is a few rows (the candidates through the
        TorchScript model and the margin model's LightGBM, one query through MiniLM): split across threads it
        only waits for them, and on a busy machine a woken OpenMP thread can take milliseconds to run (the
        margin stage's p50 went from 0.05 to 8 ms on the shared 2-core machine, BENCHMARKS.md end_to_end). The
        first decision loads those libraries, so the pools are limited from the second on (``_OneThreadScope``),
        and restored once no decision runs, so batch work in the same process keeps its threads."""
        if not self._warmed:
            yield
            self._warmed = True
            return
        with _ONE_THREAD():
            yield

    def _decide(self, customer_id: int, retriever: str | None) -> OfferDecision:
        timings: dict[str, float] = {}
        with _timed(timings, "features", customer_id):
            batch = self.store.get_features([customer_id], self.feature_version)
            record = batch.to_records()[0]
        backend_name, fallbacks = retriever, []
        if self.scorer.offer_aware:
            return self._choose_offer(customer_id, batch, record, backend_name, timings, fallbacks)
        with _timed(timings, "propensity", customer_id):
            propensity = float(self._score(batch.values)[0])
        common = dict(self._provenance(customer_id, batch, timings, fallbacks), propensity=propensity)
        if propensity < self.threshold:
            reason = f"propensity {propensity:.3f} below threshold {self.threshold:.3f}"
            return OfferDecision(send_offer=False, reason=reason, offers=[], copy=None, **common)
        with _timed(timings, "retrieval", customer_id):
            offers, common["retriever"] = self._candidates(backend_name, batch, record, self.top_k, fallbacks)
        if not offers:
            return OfferDecision(send_offer=False, reason="no eligible offer", offers=[], copy=None, **common)
        with _timed(timings, "generation", customer_id):
            copy = self._copy(offers[0], record, fallbacks)
        reason = f"propensity {propensity:.3f} >= threshold {self.threshold:.3f}"
        return OfferDecision(send_offer=True, reason=reason, offers=offers, copy=copy, **common)

    def run_for_customers(self, customer_ids: Sequence[int], retriever: str | None = None) -> list[OfferDecision]:
        """:meth:`run_for_customer` for many customers, in order; every id is checked first, so an unknown one
        fails the whole batch before any work (``UnknownCustomerError`` lists them all)."""
        self.store.get_features(list(customer_ids), self.feature_version)
        return [self.run_for_customer(int(customer_id), retriever) for customer_id in customer_ids]

    def _provenance(
        self, customer_id: int, batch: FeatureBatch, timings: dict[str, float], fallbacks: list[str]
    ) -> dict:
        """The ``OfferDecision`` fields that say who was decided for and which versions decided."""
        return dict(
            customer_id=customer_id,
            feature_version=batch.version,
            scorer=self.scorer.name,
            generator=self.generator.version,
            prompt=self.generator.prompt.ref,
            retriever="",
            latency_ms=timings,
            fallbacks=fallbacks,
        )

    def _score(self, rows: np.ndarray) -> np.ndarray:
        """The scorer's probabilities; a predictor that fails is unavailable, never a default score."""
        try:
            return self.scorer.score(rows)
        except (InvalidInputError, ServiceUnavailableError):  # already classified by the scorer (a version mismatch
            raise  # among them, which the offer API tells apart to follow a promotion)
        except Exception as exc:  # noqa: BLE001 - connection, timeout or server errors alike: no decision without it
            raise ServiceUnavailableError(f"predictor {self.scorer.name} unavailable: {exc}") from exc

    def _candidates(
        self, name: str | None, batch: FeatureBatch, record: dict, k: int, fallbacks: list[str]
    ) -> tuple[list[OfferHit], str]:
        """The customer's ``k`` eligible candidates from retrieval, or, when retrieval fails, from their purchase
        history and category popularity (reported in ``fallbacks``); with the source's name."""
        try:
            backend = self.retriever(name)
            return _eligible_offers(backend, record, batch.as_of, k), backend.name
        except InvalidInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - a backend down or broken: the offers can still be chosen without it
            fallbacks.append(f"retrieval: {type(exc).__name__}: {exc}; candidates from {HISTORY_FALLBACK}")
            stage_log.warning("retrieval failed, using %s candidates", HISTORY_FALLBACK, extra=_fields("retrieval"))
            return history_candidates(self.store, batch, record, k), HISTORY_FALLBACK

    def _copy(self, offer: OfferHit, record: dict, fallbacks: list[str]) -> OfferCopy:
        """The generator's copy; a ``CopyWriter`` that had to fall back to the safe template says so."""
        if not isinstance(self.generator, CopyWriter):
            return self.generator.generate(offer, record["segment"], record["channel_preference"])
        result = self.generator.write(offer, record["segment"], record["channel_preference"])
        if result.source == "fallback":
            last = result.attempts[-1].error if result.attempts else "no attempt"
            fallbacks.append(f"generation: {len(result.attempts)} attempt(s) rejected ({last}); template copy")
        return result.copy

    def _choose_offer(
        self,
        customer_id: int,
        batch: FeatureBatch,
        record: dict,
        backend_name: str | None,
        timings: dict[str, float],
        fallbacks: list[str],
    ) -> OfferDecision:
        """The offer-aware path: score every eligible candidate offer as a (customer, offer) pair, keep the best."""
        common = self._provenance(customer_id, batch, timings, fallbacks)
        with _timed(timings, "retrieval", customer_id):
            candidates, common["retriever"] = self._candidates(backend_name, batch, record, self.candidates, fallbacks)
        if not candidates:
            return OfferDecision(
                propensity=0.0, send_offer=False, reason="no eligible offer", offers=[], copy=None, **common
            )
        with _timed(timings, "propensity", customer_id):
            pairs = self.store.get_pair_features(
                [customer_id] * len(candidates), [offer.offer_id for offer in candidates], batch.version
            )
            scores = self._score(pairs.values)
        if self.margin_model is not None:
            return self._choose_by_margin(candidates, pairs.values, scores, record, common, timings)
        order = np.argsort(-scores, kind="stable")[: self.top_k]
        offers, propensities = [candidates[i] for i in order], [float(scores[i]) for i in order]
        best = propensities[0]
        ranked = dict(common, propensity=best, offer_propensities=propensities)
        if best < self.threshold:
            reason = f"best offer's propensity {best:.3f} below threshold {self.threshold:.3f}"
            return OfferDecision(send_offer=False, reason=reason, offers=[], copy=None, **ranked)
        with _timed(timings, "generation", customer_id):
            copy = self._copy(offers[0], record, fallbacks)
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
        customer_id = common["customer_id"]
        with _timed(timings, "margin", customer_id):
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
        with _timed(timings, "generation", customer_id):
            copy = self._copy(offers[0], record, common["fallbacks"])
        return OfferDecision(send_offer=True, reason=reason, offers=offers, copy=copy, **ranked)


def _eligible_offers(backend: OfferRetriever, record: dict, as_of: str, k: int) -> list[OfferHit]:
    """The ``k`` offers retrieval ranks first among those the customer may receive at ``as_of``."""
    query = build_customer_query(record, active_at=date.fromisoformat(as_of))
    mode = HYBRID if HYBRID in backend.modes else "dense"
    return backend.search(query.text, k=k, filters=query.filters, mode=mode)


_SHARE = PAIR_FEATURE_NAMES.index("category_share_365d")
_POPULARITY = PAIR_FEATURE_NAMES.index("category_redemption_rate")


def history_candidates(store: FeatureStore, batch: FeatureBatch, record: dict, k: int) -> list[OfferHit]:
    """Candidates without retrieval: the offers of the feature version running at its as-of on the customer's
    channel (or any), as retrieval's eligibility filters, ranked by the customer's purchase share of the offer's
    category (history), then by how often offers of that category are redeemed (popularity). The feature store
    holds no offer titles: the title is written from the offer's terms (docs/ARCHITECTURE.md)."""
    offers = store.get_offers(batch.version)
    channels = np.array(OFFER_CHANNELS)[offers["offer_channel"].to_numpy()]
    as_of = np.datetime64(batch.as_of)
    running = (offers["start_date"].to_numpy() <= as_of) & (as_of <= offers["end_date"].to_numpy())
    offers = offers[running & np.isin(channels, [record["channel_preference"], OFFER_CHANNEL_ANY])]
    if offers.empty:
        return []
    customer = int(batch.customer_ids[0])
    rows = store.get_pair_features([customer] * len(offers), offers[OFFER_COLUMN].to_numpy(), batch.version).values
    order = np.lexsort((-rows[:, _POPULARITY], -rows[:, _SHARE]))[:k]
    hits = []
    for i in order:
        offer = offers.iloc[i]
        category = PRODUCT_CATEGORIES[int(offer["offer_category"])]
        label = CATEGORY_COPY[category][0]
        hits.append(
            OfferHit(
                offer_id=int(offer[OFFER_COLUMN]),
                score=float(rows[i, _SHARE]),
                title=f"{float(offer['discount_pct']):g}% off {label}",
                category=category,
                discount_pct=float(offer["discount_pct"]),
                channel=str(np.array(OFFER_CHANNELS)[int(offer["offer_channel"])]),
                text=f"{float(offer['discount_pct']):g}% off {label}.",
                min_spend=float(offer["min_spend"]),
            )
        )
    return hits


def _fields(stage: str, **fields: object) -> dict:
    """The structured fields of a stage log line (the JSON formatter writes them beside the message)."""
    return {"stage": stage, "request_id": REQUEST_ID.get(), **fields}


@contextmanager
def _timed(timings: dict[str, float], stage: str, customer_id: int):
    """Time one stage into ``timings`` and write its log line (with the request id), failed or not."""
    start, outcome = time.perf_counter(), "ok"
    try:
        yield
    except BaseException:
        outcome = "error"
        raise
    finally:
        timings[stage] = (time.perf_counter() - start) * 1000.0
        fields = _fields(stage, customer_id=customer_id, latency_ms=round(timings[stage], 3), outcome=outcome)
        stage_log.info("stage %s %s", stage, outcome, extra=fields)


def build_decision_chain(
    settings: Settings, scorer: PropensityScorer, feature_version: str = "latest", *, warm_queries: bool = True
) -> DecisionChain:
    """Wire the stages from settings: the feature store, the retrieval backends (the offer index the training
    pipeline's ``index_offers`` step filled), the configured copy writer with its guardrails, and the margin model
    registered with the scorer's model (when it has one, offers are chosen by expected margin).

    ``warm_queries``: embed every customer query once now (1-3 s), so no request pays for its embedding — what a
    server wants; a one-shot decision embeds its one query instead."""
    from loyaltylens.generation.writer import CopyWriter
    from loyaltylens.retrieval.factory import Retrievers
    from loyaltylens.retrieval.query import customer_query_texts

    retrievers = Retrievers(settings)
    if warm_queries:
        retrievers.embedder.warm(customer_query_texts())
    return DecisionChain(
        store=FeatureStore.from_settings(settings),
        scorer=scorer,
        retriever=retrievers.get,
        generator=CopyWriter.from_settings(settings),
        threshold=settings.propensity_threshold,
        feature_version=feature_version,
        candidates=settings.offer_candidates,
        margin_model=scorer.margin_model,
    )
