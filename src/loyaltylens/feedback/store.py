"""Where ratings are kept: SQLite in WAL mode locally, the platform's Postgres on a cluster.

Both stores run the same SQL (written with ``?`` placeholders; Postgres gets ``%s``) and differ only in their
DDL and connection handling. A write returns only after its transaction is committed (SQLite with
``synchronous=FULL``: the WAL is fsynced at every commit), so an acknowledged rating survives a killed server.
Retries are idempotent: the idempotency key is unique, and a retry is recognised by the SHA-256 of the
request's canonical JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import queue
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from loyaltylens.config import Settings
from loyaltylens.errors import LoyaltyLensError, ServiceUnavailableError
from loyaltylens.feedback.models import FeedbackAck, FeedbackIn, GeneratedOffer, OfferWithRatings

FEEDBACK_COLUMNS = (
    "idempotency_key",
    "decision_id",
    "offer_id",
    "customer_id",
    "prompt_version",
    "generator_version",
    "copy_text",
    "thumb",
    "stars",
    "rated_at",
)
OFFER_COLUMNS = tuple(GeneratedOffer.model_fields)


class IdempotencyConflictError(LoyaltyLensError):
    """An idempotency key (or decision id) reused for a different request; the stored one is kept."""


def _fingerprint(model: FeedbackIn | GeneratedOffer) -> str:
    return hashlib.sha256(model.model_dump_json().encode()).hexdigest()


def _checked(outcome: tuple[bool, Any, str | None], model: FeedbackIn | GeneratedOffer, key: str) -> tuple[bool, Any]:
    """(created, value) of an insert-once; a stored row under the same key with a different content is a
    conflict (a retry of the same request has the same fingerprint)."""
    created, value, stored_fingerprint = outcome
    if not created and stored_fingerprint != _fingerprint(model):
        raise IdempotencyConflictError(
            f"{key} {getattr(model, key)!r} was already used for a different request; the first one is kept"
        )
    return created, value


def _insert_sql(table: str, columns: Sequence[str], key: str) -> str:
    names = ", ".join((*columns, "fingerprint"))
    marks = ", ".join("?" * (len(columns) + 1))
    return f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({key}) DO NOTHING RETURNING 1"


INSERT_FEEDBACK = _insert_sql("feedback", FEEDBACK_COLUMNS, "idempotency_key").replace("RETURNING 1", "RETURNING id")
INSERT_OFFER = _insert_sql("generated_offers", OFFER_COLUMNS, "decision_id")
OFFERS_OF_CUSTOMER = """
SELECT o.decision_id, o.offer_id, o.customer_id, o.prompt_version, o.generator_version, o.prompt, o.copy_text,
       o.created_at,
       SUM(CASE WHEN f.thumb = 'up' THEN 1 ELSE 0 END), SUM(CASE WHEN f.thumb = 'down' THEN 1 ELSE 0 END),
       AVG(f.stars), COUNT(f.id)
FROM generated_offers o LEFT JOIN feedback f ON f.decision_id = o.decision_id
WHERE o.customer_id = ?
GROUP BY o.decision_id
ORDER BY o.created_at DESC, o.decision_id
LIMIT ?
"""
FEEDBACK_SINCE = """
SELECT f.id, f.idempotency_key, f.decision_id, f.offer_id, f.customer_id, f.prompt_version, f.generator_version,
       f.copy_text, f.thumb, f.stars, f.rated_at, f.received_at, o.prompt
FROM feedback f LEFT JOIN generated_offers o ON o.decision_id = f.decision_id
WHERE f.rated_at >= ?
ORDER BY f.id
"""
FRAME_COLUMNS = [
    "id",
    "idempotency_key",
    "decision_id",
    "offer_id",
    "customer_id",
    "prompt_version",
    "generator_version",
    "copy_text",
    "thumb",
    "stars",
    "rated_at",
    "received_at",
    "prompt",
]
T = TypeVar("T")
EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


class FeedbackStore(ABC):
    """Generated offers and their ratings. Thread-safe: the service calls it from its worker threads."""

    @abstractmethod
    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A cursor-like object with ``execute(sql, params)``; committed when the block exits cleanly."""

    @abstractmethod
    def _sql(self, statement: str) -> str: ...

    def _params(self, model: FeedbackIn | GeneratedOffer, columns: Sequence[str]) -> list[Any]:
        return [*(getattr(model, name) for name in columns), _fingerprint(model)]

    def _since(self, since: datetime) -> Any:
        return since

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """A transaction for reads only (the same as ``_transaction`` unless the store can do better)."""
        with self._transaction() as cursor:
            yield cursor

    def _write(self, operation: Callable[[Any], T]) -> T:
        """Run ``operation(cursor)`` in a transaction; return once it is committed."""
        with self._transaction() as cursor:
            return operation(cursor)

    async def _write_async(self, operation: Callable[[Any], T]) -> T:
        """``_write`` for a coroutine: in a worker thread, unless the store can wait without one."""
        return await asyncio.to_thread(self._write, operation)

    def add_offer(self, offer: GeneratedOffer) -> bool:
        """Register a generated offer; True when new, False for a retry of the same one."""
        operation = self._insert_once(INSERT_OFFER, "generated_offers", "decision_id", "1", offer, OFFER_COLUMNS)
        created, _ = _checked(self._write(operation), offer, "decision_id")
        return created

    def add_feedback(self, feedback: FeedbackIn) -> FeedbackAck:
        """Store one rating (committed before this returns); a retry with the same key returns the first id."""
        return self._ack(feedback, self._write(self._insert_feedback(feedback)))

    async def add_feedback_async(self, feedback: FeedbackIn) -> FeedbackAck:
        """``add_feedback`` for the service's event loop (returns once committed, too)."""
        return self._ack(feedback, await self._write_async(self._insert_feedback(feedback)))

    def _insert_feedback(self, feedback: FeedbackIn) -> Callable[[Any], tuple[bool, Any, str | None]]:
        return self._insert_once(INSERT_FEEDBACK, "feedback", "idempotency_key", "id", feedback, FEEDBACK_COLUMNS)

    @staticmethod
    def _ack(feedback: FeedbackIn, outcome: tuple[bool, Any, str | None]) -> FeedbackAck:
        created, stored_id = _checked(outcome, feedback, "idempotency_key")
        return FeedbackAck(id=stored_id, idempotency_key=feedback.idempotency_key, created=created)

    def _insert_once(
        self, insert: str, table: str, key: str, returned: str, model, columns
    ) -> Callable[[Any], tuple[bool, Any, str | None]]:
        """The write that inserts ``model`` unless ``key`` is stored: (True, the new row's ``returned``, None),
        or (False, the stored row's ``returned``, the stored row's fingerprint)."""
        lookup = self._sql(f"SELECT fingerprint, {returned} FROM {table} WHERE {key} = ?")
        insert, params = self._sql(insert), self._params(model, columns)  # built before the writer's turn

        def insert_or_find(cursor) -> tuple[bool, Any, str | None]:
            row = cursor.execute(insert, params).fetchone()
            if row is not None:
                return True, row[0], None
            fingerprint, value = cursor.execute(lookup, (getattr(model, key),)).fetchone()
            return False, value, fingerprint

        return insert_or_find

    def offers_for_customer(self, customer_id: int, limit: int = 50) -> list[OfferWithRatings]:
        """The customer's generated offers, newest first, each with its rating counts."""
        with self._reading() as cursor:
            rows = cursor.execute(self._sql(OFFERS_OF_CUSTOMER), (customer_id, limit)).fetchall()
        return [
            OfferWithRatings(
                **dict(zip(OFFER_COLUMNS, row[:8], strict=True)),
                thumbs_up=row[8] or 0,
                thumbs_down=row[9] or 0,
                mean_stars=None if row[10] is None else float(row[10]),
                ratings=row[11],
            )
            for row in rows
        ]

    def feedback_frame(self, since: datetime | None = None) -> pd.DataFrame:
        """Every rating (rated at or after ``since``) with the prompt of its offer (None if unregistered)."""
        with self._reading() as cursor:
            rows = cursor.execute(self._sql(FEEDBACK_SINCE), (self._since(since or EPOCH),)).fetchall()
        frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
        for column in ("rated_at", "received_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        frame["stars"] = frame["stars"].astype("Float64")
        return frame

    def count_feedback(self) -> int:
        with self._reading() as cursor:
            return cursor.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]

    def ping(self) -> None:
        """Raise unless the store answers a trivial query (the service's readiness)."""
        with self._reading() as cursor:
            cursor.execute("SELECT 1").fetchone()

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS generated_offers (
    decision_id TEXT PRIMARY KEY, offer_id INTEGER NOT NULL, customer_id INTEGER NOT NULL,
    prompt_version TEXT NOT NULL, generator_version TEXT NOT NULL, prompt TEXT NOT NULL, copy_text TEXT NOT NULL,
    created_at TEXT NOT NULL, fingerprint TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS generated_offers_customer ON generated_offers (customer_id, created_at);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, decision_id TEXT NOT NULL,
    offer_id INTEGER NOT NULL, customer_id INTEGER NOT NULL, prompt_version TEXT NOT NULL,
    generator_version TEXT NOT NULL, copy_text TEXT NOT NULL, thumb TEXT CHECK (thumb IN ('up', 'down')),
    stars INTEGER CHECK (stars BETWEEN 1 AND 5), rated_at TEXT NOT NULL,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')), fingerprint TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_decision ON feedback (decision_id);
CREATE INDEX IF NOT EXISTS feedback_rated_at ON feedback (rated_at);
"""


def _sqlite_value(value: Any) -> Any:
    """Timestamps as fixed-width UTC ISO text, so SQLite's text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds") if isinstance(value, datetime) else value


# Who waits for a write: a thread (a concurrent future) or a coroutine (its event loop and an asyncio future).
Waiter = Future | tuple[asyncio.AbstractEventLoop, asyncio.Future]
Outcome = tuple[Waiter, Any, BaseException | None]


class _WriteFailed(Exception):
    """One write of a batch committed without savepoints raised: redo the batch with them."""


def _settle(done: Future | asyncio.Future, value: Any, error: BaseException | None) -> None:
    if done.done():  # an asyncio future whose request was cancelled: nobody is waiting (the write stands)
        return
    if error is None:
        done.set_result(value)
    else:
        done.set_exception(error)


def _settle_all(outcomes: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    for done, value, error in outcomes:
        _settle(done, value, error)


def _answer(outcomes: list[Outcome]) -> None:
    """Settle every waiter of a commit: threads directly, coroutines in one callback per event loop."""
    per_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for waiter, value, error in outcomes:
        if isinstance(waiter, Future):
            _settle(waiter, value, error)
        else:
            loop, done = waiter
            per_loop.setdefault(loop, []).append((done, value, error))
    for loop, settled in per_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop was closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle_all, settled)


class SQLiteFeedbackStore(FeedbackStore):
    """One connection, one writer thread. Writes are group-committed: the writer drains every write queued
    while the previous commit was being fsynced into one transaction (each in its own savepoint, so one
    failing write fails alone) and answers them all after its single fsync. With ``synchronous=FULL`` every
    fsync costs ~1-2 ms, so committing each write alone would cap the store near 600 writes/s. WAL lets other
    processes (an export, the dashboard) read while the service writes."""

    def __init__(self, path: Path, max_batch: int = 256):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=10.0, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL, not NORMAL: in WAL mode NORMAL skips the fsync at commit, which survives a killed process (the
        # WAL is in the OS's page cache) but loses the last commits on a power cut or a node crash, and a 201 is
        # a promise that the rating is on disk. Group commit pays for the fsync instead (one per batch).
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SQLITE_SCHEMA)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_batches, name="feedback-sqlite-writer", daemon=True)
        self._writer.start()

    def _sql(self, statement: str) -> str:
        return statement

    def _params(self, model: FeedbackIn | GeneratedOffer, columns: Sequence[str]) -> list[Any]:
        return [_sqlite_value(value) for value in super()._params(model, columns)]

    def _since(self, since: datetime) -> str:
        return _sqlite_value(since)

    @contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute(begin)
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._transaction("BEGIN DEFERRED") as conn:  # a read never takes the write lock
            yield conn

    def _submit(self, operation: Callable[[Any], T], waiter: Waiter) -> None:
        """Queue ``operation`` for the writer's next group commit; ``waiter`` is answered once it is committed."""
        if not self._writer.is_alive():
            raise ServiceUnavailableError(f"feedback store {self.path} is closed")
        self._queue.put((operation, waiter))

    def _write(self, operation: Callable[[Any], T]) -> T:
        done: Future = Future()
        self._submit(operation, done)
        return done.result()

    async def _write_async(self, operation: Callable[[Any], T]) -> T:
        # The event loop awaits an asyncio future the writer settles: no worker thread blocked per write, and
        # one wake-up of the loop per commit for all the writes it answers.
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._submit(operation, (loop, done))
        return await done

    def _write_batches(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            _answer(self._commit(batch))

    def _commit(self, batch: list[tuple[Callable[[Any], Any], Waiter]]) -> list[Outcome]:
        """Commit the batch in one transaction. A write that fails (a constraint) must fail alone: then the batch
        is rolled back and redone with a savepoint per write, a cost only such a batch pays."""
        try:
            return self._commit_batch(batch, savepoints=False)
        except _WriteFailed:
            pass
        except Exception as exc:  # the commit failed (disk full, locked too long): nothing of the batch is stored
            return self._unavailable(batch, exc)
        try:
            return self._commit_batch(batch, savepoints=True)
        except Exception as exc:
            return self._unavailable(batch, exc)

    def _commit_batch(self, batch: list[tuple[Callable[[Any], Any], Waiter]], savepoints: bool) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with self._transaction() as conn:
            for operation, waiter in batch:
                if not savepoints:
                    try:
                        outcomes.append((waiter, operation(conn), None))
                    except Exception as exc:
                        raise _WriteFailed from exc  # rolls the transaction back
                    continue
                conn.execute("SAVEPOINT write")
                try:
                    outcomes.append((waiter, operation(conn), None))
                except Exception as exc:
                    conn.execute("ROLLBACK TO write")
                    outcomes.append((waiter, None, exc))
                conn.execute("RELEASE write")
        return outcomes  # answered only after the commit's fsync

    def _unavailable(self, batch: list[tuple[Callable[[Any], Any], Waiter]], exc: Exception) -> list[Outcome]:
        error = ServiceUnavailableError(f"feedback store {self.path}: write failed, nothing stored ({exc})")
        return [(waiter, None, error) for _, waiter in batch]

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join()
        self._conn.close()


POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS generated_offers (
    decision_id TEXT PRIMARY KEY, offer_id BIGINT NOT NULL, customer_id BIGINT NOT NULL,
    prompt_version TEXT NOT NULL, generator_version TEXT NOT NULL, prompt TEXT NOT NULL, copy_text TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL, fingerprint TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS generated_offers_customer ON generated_offers (customer_id, created_at);
CREATE TABLE IF NOT EXISTS feedback (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE,
    decision_id TEXT NOT NULL, offer_id BIGINT NOT NULL, customer_id BIGINT NOT NULL, prompt_version TEXT NOT NULL,
    generator_version TEXT NOT NULL, copy_text TEXT NOT NULL, thumb TEXT CHECK (thumb IN ('up', 'down')),
    stars SMALLINT CHECK (stars BETWEEN 1 AND 5), rated_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(), fingerprint TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_decision ON feedback (decision_id);
CREATE INDEX IF NOT EXISTS feedback_rated_at ON feedback (rated_at);
"""


class PostgresFeedbackStore(FeedbackStore):
    """A psycopg connection pool on the platform's Postgres; each call is one committed transaction."""

    def __init__(self, url: str, connect_timeout_s: int = 5, max_connections: int = 8):
        import psycopg
        from psycopg_pool import ConnectionPool

        self._operational_error = psycopg.OperationalError
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            timeout=connect_timeout_s,
            kwargs={"connect_timeout": connect_timeout_s},
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except Exception as exc:  # the pool raises its PoolTimeout; name the cause once
            self._pool.close()
            raise ServiceUnavailableError(f"feedback store: Postgres unreachable ({exc})") from exc
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(28028)")  # two replicas starting together create once
            conn.execute(POSTGRES_SCHEMA)

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        try:
            with self._pool.connection() as conn:  # commits on a clean exit, rolls back on an error
                yield conn
        except self._operational_error as exc:
            raise ServiceUnavailableError(f"feedback store: Postgres unreachable ({exc})") from exc

    def close(self) -> None:
        self._pool.close()


def open_feedback_store(settings: Settings) -> FeedbackStore:
    """The store the settings name (``feedback_store``). The Postgres one is ``settings.postgres_url``: starting
    a local server is the entry point's job (``loyaltylens.local.postgres.with_postgres``), not the library's."""
    if settings.feedback_store == "postgres":
        if not settings.postgres_url:
            raise LoyaltyLensError(
                "feedback_store=postgres needs a Postgres: set LOYALTYLENS_POSTGRES_URL "
                "(`loyaltylens services up` starts a local one)"
            )
        return PostgresFeedbackStore(settings.postgres_url, settings.postgres_connect_timeout_s)
    return SQLiteFeedbackStore(settings.feedback_sqlite_path, settings.feedback_sqlite_max_batch)
