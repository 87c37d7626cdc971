"""Both stores (SQLite WAL, Postgres) keep every rating once, refuse a reused key, and read back what they hold."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta

import pytest

from loyaltylens.config import Settings
from loyaltylens.errors import LoyaltyLensError, ServiceUnavailableError
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


def test_a_postgres_store_without_a_url_is_a_clear_error_and_starts_nothing(tmp_path, monkeypatch):
    """The library never starts a server: the CLI and the main job do (``with_postgres``)."""
    monkeypatch.delenv("LOYALTYLENS_POSTGRES_URL", raising=False)
    with pytest.raises(LoyaltyLensError, match="set LOYALTYLENS_POSTGRES_URL"):
        open_feedback_store(Settings(data_dir=tmp_path, feedback_store="postgres", postgres_url=None))
    assert not (tmp_path / "postgres").exists()


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


def test_a_failing_write_fails_alone_in_its_group_commit(sqlite_store):
    """A batch commits without savepoints; when one of its writes raises, it is redone with a savepoint per
    write, so only that write fails and the others of the same commit are stored."""
    broken = make_feedback(key="k-broken").model_copy(update={"stars": 9})  # past validation: the CHECK refuses it
    outcomes: dict[str, object] = {}

    def rate(feedback) -> None:
        try:
            outcomes[feedback.idempotency_key] = sqlite_store.add_feedback(feedback)
        except Exception as exc:
            outcomes[feedback.idempotency_key] = exc

    def wait_for(condition) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline
            time.sleep(0.01)

    threads = [threading.Thread(target=rate, args=(make_feedback(key="k-first"),))]
    with sqlite_store._lock:  # the writer takes the first write and waits here: the next two queue up as one batch
        threads[0].start()
        wait_for(lambda: sqlite_store._queue.qsize() == 0)
        for feedback in (broken, make_feedback(key="k-good")):
            threads.append(threading.Thread(target=rate, args=(feedback,)))
            threads[-1].start()
        wait_for(lambda: sqlite_store._queue.qsize() == 2)
    for thread in threads:
        thread.join(timeout=10)
    assert isinstance(outcomes["k-broken"], sqlite3.IntegrityError)
    assert outcomes["k-first"].created and outcomes["k-good"].created
    assert set(sqlite_store.feedback_frame()["idempotency_key"]) == {"k-first", "k-good"}
