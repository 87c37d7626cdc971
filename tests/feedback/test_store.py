"""Both stores (SQLite WAL, Postgres) keep every rating once, refuse a reused key, and read back what they hold."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from loyaltylens.config import Settings
from loyaltylens.errors import ServiceUnavailableError
from loyaltylens.feedback.store import (
    IdempotencyConflictError,
    PostgresFeedbackStore,
    SQLiteFeedbackStore,
    open_feedback_store,
)
from tests.feedback.conftest import RATED_AT, make_feedback, make_offer


def test_a_retried_rating_is_stored_once(store):
    rating = make_feedback(key="retry-me")
    first = store.add_feedback(rating)
    again = store.add_feedback(rating)
    assert first.created and not again.created
    assert again.id == first.id
    assert store.count_feedback() == 1


def test_a_reused_key_with_another_rating_is_a_conflict_and_keeps_the_first(store):
    store.add_feedback(make_feedback(key="k", stars=5))
    with pytest.raises(IdempotencyConflictError, match="'k'"):
        store.add_feedback(make_feedback(key="k", stars=1))
    assert store.feedback_frame()["stars"].tolist() == [5]


def test_offers_of_a_customer_carry_their_ratings(store):
    older, newer = make_offer("d-old"), make_offer("d-new", created_at=RATED_AT)
    assert store.add_offer(older) and store.add_offer(newer)
    assert not store.add_offer(newer)  # a retry
    with pytest.raises(IdempotencyConflictError):
        store.add_offer(make_offer("d-new", copy_text="different copy"))
    store.add_offer(make_offer("d-other-customer", customer_id=8))
    store.add_feedback(make_feedback(older, stars=2, thumb="down"))
    store.add_feedback(make_feedback(older, stars=4))
    offers = store.offers_for_customer(7)
    assert [o.decision_id for o in offers] == ["d-new", "d-old"]
    assert (offers[0].ratings, offers[0].mean_stars) == (0, None)
    assert (offers[1].ratings, offers[1].mean_stars, offers[1].thumbs_down, offers[1].thumbs_up) == (2, 3.0, 1, 0)


def test_the_frame_joins_the_prompt_and_filters_by_time(store):
    offer = make_offer()
    store.add_offer(offer)
    store.add_feedback(make_feedback(offer, rated_at=RATED_AT - timedelta(days=10)))
    store.add_feedback(make_feedback(offer, thumb="up", stars=None))
    store.add_feedback(make_feedback(make_offer("d-unregistered")))
    frame = store.feedback_frame(since=RATED_AT - timedelta(days=1))
    assert len(frame) == 2
    assert frame["prompt"].tolist() == [offer.prompt, None]
    assert frame["thumb"].tolist() == ["up", None]
    assert frame["rated_at"].dt.tz is not None and (frame["rated_at"] == RATED_AT).all()


def test_sqlite_store_is_wal_and_fsyncs_every_commit(sqlite_store):
    with sqlite3.connect(sqlite_store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert sqlite_store._conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_the_settings_pick_the_store(tmp_path, pg_url):
    with open_feedback_store(Settings(data_dir=tmp_path)) as store:
        store.add_feedback(make_feedback())
    assert (tmp_path / "feedback" / "feedback.sqlite").is_file()
    with open_feedback_store(Settings(data_dir=tmp_path, feedback_store="postgres", postgres_url=pg_url)) as store:
        assert isinstance(store, PostgresFeedbackStore) and store.count_feedback() == 0


def test_an_unreachable_postgres_is_a_clear_error(tmp_path):
    with pytest.raises(ServiceUnavailableError, match="unreachable"):
        PostgresFeedbackStore(f"postgresql://nobody@/none?host={tmp_path}", connect_timeout_s=1)


def test_a_failed_sqlite_commit_is_unavailable_and_stores_nothing(tmp_path):
    """Another process holding the write lock past the timeout: a 503-kind error, not a lost or half write."""
    path = tmp_path / "feedback.sqlite"
    with SQLiteFeedbackStore(path) as store:
        store._conn.execute("PRAGMA busy_timeout=100")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(ServiceUnavailableError, match="nothing stored"):
                store.add_feedback(make_feedback())
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert store.add_feedback(make_feedback()).created  # the writer survives
        assert store.count_feedback() == 1
    with pytest.raises(ServiceUnavailableError, match="closed"):
        store.add_feedback(make_feedback())
