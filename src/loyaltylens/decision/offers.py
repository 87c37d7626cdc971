"""The offer API's library side: the request and response of ``POST /v1/offers`` and :class:`OfferService`,
which runs the decision chain for a batch of customers and reports, per decision, the offers, the expected
margin, the copy, the fallbacks, the versions that decided and each stage's latency.

``serving/offers`` is the FastAPI app over it (HTTP, request ids, metrics endpoint); the chain is built
lazily on the first request (:class:`LazyService`), so the process starts without the registry, and again when a
promotion has rolled out to the predictor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from loyaltylens.config import Settings
from loyaltylens.decision.chain import DecisionChain, OfferDecision
from loyaltylens.decision.telemetry import OfferMetrics
from loyaltylens.errors import InvalidInputError, ModelVersionMismatchError
from loyaltylens.generation.offer_copy import OfferCopy

CustomerId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class OffersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ids: list[CustomerId] = Field(
        min_length=1, description="Customers to decide for (at most settings.offer_api_max_customers)."
    )


class ModelVersion(BaseModel):
    uri: str  # what the service was configured with, e.g. models:/loyaltylens-propensity@champion
    alias: str | None  # champion / challenger, when the uri names one
    version: int | None  # the registered version it resolved to (None: a model directory outside the registry)


class Versions(BaseModel):
    feature_version: str
    model: ModelVersion
    prompt: str  # name@version
    generator: str
    retriever: str  # the backend the candidates came from (history+popularity when retrieval was down)


class OfferOut(BaseModel):
    offer_id: int
    title: str
    category: str
    discount_pct: float
    p_redeem: float


class Decision(BaseModel):
    customer_id: int
    send_offer: bool
    reason: str
    offers: list[OfferOut]  # the best first; empty when no offer is sent
    offer_ids: list[int]
    expected_margin_eur: float | None  # of the best offer, when decided by margin
    copy_text: OfferCopy | None = Field(alias="copy")
    fallbacks: list[str]
    versions: Versions
    latency_ms: dict[str, float]
    total_ms: float

    model_config = ConfigDict(populate_by_name=True)


class OffersResponse(BaseModel):
    request_id: str
    decisions: list[Decision]


@dataclass(frozen=True)
class OfferService:
    """The decision chain behind the offer API, with the model version it scores with and its metrics."""

    chain: DecisionChain
    model: ModelVersion
    max_customers: int
    metrics: OfferMetrics
    model_dir: Path | None = None  # where the model was loaded from (LazyService compares it after a promotion)

    def decide(self, customer_ids: list[int], request_id: str) -> OffersResponse:
        """Decisions for ``customer_ids`` in order.

        Raises:
            InvalidInputError: more customers than ``max_customers``.
            UnknownCustomerError: ids the feature version does not hold (nothing is decided).
            ServiceUnavailableError: the predictor cannot be reached.
        """
        if len(customer_ids) > self.max_customers:
            raise InvalidInputError(
                f"customer_ids: {len(customer_ids)} customers, more than the limit of {self.max_customers}"
            )
        try:
            decisions = self.chain.run_for_customers(customer_ids)
        except Exception:
            self.metrics.decisions.labels("error").inc()
            raise
        for d in decisions:
            self.metrics.observe(d.latency_ms, d.fallbacks, d.send_offer, d.expected_margin)
        return OffersResponse(request_id=request_id, decisions=[self._decision(d) for d in decisions])

    def _decision(self, d: OfferDecision) -> Decision:
        propensities = d.offer_propensities or [d.propensity] * len(d.offers)
        offers = [
            OfferOut(offer_id=o.offer_id, title=o.title, category=o.category, discount_pct=o.discount_pct, p_redeem=p)
            for o, p in zip(d.offers, propensities, strict=False)
        ]
        versions = Versions(
            feature_version=d.feature_version,
            model=self.model,
            prompt=d.prompt,
            generator=d.generator,
            retriever=d.retriever,
        )
        return Decision(
            customer_id=d.customer_id,
            send_offer=d.send_offer,
            reason=d.reason,
            offers=offers,
            offer_ids=[o.offer_id for o in d.offers],
            expected_margin_eur=d.expected_margin,
            copy=d.copy,
            fallbacks=d.fallbacks,
            versions=versions,
            latency_ms={stage: round(ms, 3) for stage, ms in d.latency_ms.items()},
            total_ms=round(d.total_ms, 3),
        )


def model_version_of(uri: str, model_dir: Path) -> ModelVersion:
    """The registered version of ``model_dir`` (its card's stamp) and the alias ``uri`` names, if any."""
    from loyaltylens.propensity.model_card import CARD_JSON, ModelCard

    alias = uri.rpartition("@")[2] if uri.startswith("models:/") and "@" in uri else None
    version = ModelCard.load(model_dir).version if (model_dir / CARD_JSON).is_file() else None
    return ModelVersion(uri=uri, alias=alias, version=version)


def build_offer_service(settings: Settings, metrics: OfferMetrics, uri: str, model_dir: Path) -> OfferService:
    """The production service for the model ``uri`` resolved to ``model_dir``: the chain of
    :func:`build_decision_chain` with that model in-process, or the KServe predictor at
    ``settings.offer_predictor_url`` with that model's margin model, and the copy writer the settings configure."""
    from loyaltylens.decision.chain import build_decision_chain
    from loyaltylens.decision.cli import scorer_for

    chain = build_decision_chain(settings, scorer_for(settings, settings.offer_predictor_url, str(model_dir)))
    return OfferService(chain, model_version_of(uri, model_dir), settings.offer_api_max_customers, metrics, model_dir)


class LazyService:
    """The offer API's service, built on first use (one thread builds; the others wait), so the app starts at once and
    a registry that is down fails requests with a clear error instead of the process.

    It follows a promotion without a restart: when the predictor answers with another model version than the
    service's (the new champion rolled out to it), the registry is asked again which model the URI names; if that is
    another model, a service for it replaces this one and the request is decided again. While the two disagree (the
    registry and the predictor mid-rollout), the request stays a 503 naming both versions."""

    def __init__(self, resolve: Callable[[], Path], build: Callable[[Path], OfferService]):
        self._resolve, self._build = resolve, build
        self._service: OfferService | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, metrics: OfferMetrics, model: str | None = None) -> LazyService:
        """The service of ``model`` (a model directory or registry URI; default: the champion)."""
        from loyaltylens.runtime.model_source import champion_uri, resolve_model_dir

        uri = model or champion_uri(settings)
        return cls(
            lambda: resolve_model_dir(uri, settings.tracking_uri, settings.models_dir),
            lambda model_dir: build_offer_service(settings, metrics, uri, model_dir),
        )

    def get(self) -> OfferService:
        with self._lock:
            if self._service is None:
                self._service = self._build(self._resolve())
            return self._service

    def decide(self, customer_ids: list[int], request_id: str) -> OffersResponse:
        """:meth:`OfferService.decide` on the current service, once more on a new one after a promotion."""
        service = self.get()
        try:
            return service.decide(customer_ids, request_id)
        except ModelVersionMismatchError:
            current = self._follow_registry(service)
            if current is service:
                raise
            return current.decide(customer_ids, request_id)

    def _follow_registry(self, stale: OfferService) -> OfferService:
        """The service of the model the registry names now (``stale`` when it still names the same model)."""
        with self._lock:
            if self._service is stale:
                model_dir = self._resolve()
                if model_dir != stale.model_dir:
                    self._service = self._build(model_dir)
            return self._service
