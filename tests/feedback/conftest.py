"""Feedback fixtures: a store of each kind, a ready-made offer and rating, and the service as a real process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loyaltylens.feedback.models import FeedbackIn, GeneratedOffer
from loyaltylens.feedback.process import feedback_process
from loyaltylens.feedback.store import FeedbackStore, PostgresFeedbackStore, SQLiteFeedbackStore
from loyaltylens.local.launcher import LOOPBACK, ServerProcess, free_port

RATED_AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def make_offer(decision_id: str = "d-1", customer_id: int = 7, **changes) -> GeneratedOffer:
    fields = dict(
        decision_id=decision_id,
        offer_id=3,
        customer_id=customer_id,
        prompt_version="offer-copy/v1",
        generator_version="loyaltylens-generator/1",
        prompt="Write copy for: 20% off milk, yoghurt and cheese in the app.",
        copy_text="20% off milk, yoghurt and cheese: tap to save in the app.",
        created_at=RATED_AT - timedelta(hours=1),
    )
    return GeneratedOffer(**{**fields, **changes})


def make_feedback(offer: GeneratedOffer | None = None, key: str | None = None, **changes) -> FeedbackIn:
    offer = offer or make_offer()
    fields = dict(
        idempotency_key=key or uuid.uuid4().hex,
        **offer.model_dump(exclude={"prompt", "created_at"}),
        stars=4,
        rated_at=RATED_AT,
    )
    return FeedbackIn(**{**fields, **changes})


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteFeedbackStore]:
    with SQLiteFeedbackStore(tmp_path / "feedback.sqlite") as store:
        yield store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path: Path) -> Iterator[FeedbackStore]:
    """The same behaviour is asked of both stores; the Postgres one is the embedded pgserver."""
    if request.param == "sqlite":
        store = SQLiteFeedbackStore(tmp_path / "feedback.sqlite")
    else:
        store = PostgresFeedbackStore(request.getfixturevalue("pg_url"))
    with store:
        yield store


@pytest.fixture
def feedback_server(tmp_path: Path) -> Iterator[tuple[str, Path, ServerProcess]]:
    """The service as its own process on loopback over SQLite in a fresh data dir: (base URL, data dir, process)."""
    data_dir = tmp_path / "data"
    port = free_port()
    server = feedback_process(port, tmp_path / "feedback.log", env={"LOYALTYLENS_DATA_DIR": str(data_dir)})
    with server:
        yield f"http://{LOOPBACK}:{port}", data_dir, server
