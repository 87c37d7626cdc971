"""What the offer chain tells operators: a request id carried through every stage (a context variable, so it
follows the request into the worker thread that runs the chain), structured JSON log lines, and Prometheus
metrics of the decisions (per-stage latency, fallbacks, outcomes, expected margin sent).

The metrics live in their own :class:`prometheus_client.CollectorRegistry` per :class:`OfferMetrics`, so two
apps in one process (tests) never collide on the global registry.
"""

from __future__ import annotations

import json
import logging
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REQUEST_ID: ContextVar[str] = ContextVar("loyaltylens_request_id", default="-")
REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID_CHARS = 128
# A stage of the chain takes 0.1 ms (a feature lookup) to seconds (a generator): log-spaced buckets in seconds.
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MARGIN_BUCKETS = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is a short printable token, else a new one (an untrusted header must
    not forge log lines or grow them without bound)."""
    if header and len(header) <= MAX_REQUEST_ID_CHARS and header.isprintable() and " " not in header:
        return header
    return uuid.uuid4().hex


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES and k not in line})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    """Route the root logger to stderr as JSON lines (the offer service's process; not at import)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class OfferMetrics:
    """The offer chain's Prometheus metrics, observed from each decision's result."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stage_seconds = Histogram(
            "loyaltylens_offer_stage_seconds",
            "Latency of one stage of the offer chain.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "loyaltylens_offer_fallbacks", "Decisions where a stage fell back.", ["stage"], registry=self.registry
        )
        self.decisions = Counter(
            "loyaltylens_offer_decisions", "Decisions made, by outcome.", ["outcome"], registry=self.registry
        )
        self.expected_margin_sent = Histogram(
            "loyaltylens_offer_expected_margin_sent_eur",
            "Expected incremental margin of each offer sent (EUR).",
            buckets=MARGIN_BUCKETS,
            registry=self.registry,
        )
        self.unavailable = Counter(
            "loyaltylens_offer_unavailable",
            "Requests refused because a required service was down.",
            ["service"],
            registry=self.registry,
        )

    def observe(self, latency_ms: dict[str, float], fallbacks: list[str], sent: bool, margin: float | None) -> None:
        for stage, ms in latency_ms.items():
            self.stage_seconds.labels(stage).observe(ms / 1000.0)
        for fallback in fallbacks:
            self.fallbacks.labels(fallback.partition(":")[0]).inc()
        self.decisions.labels("sent" if sent else "no_offer").inc()
        if sent and margin is not None:
            self.expected_margin_sent.observe(margin)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric (``GET /metrics``)."""
        return generate_latest(self.registry)
