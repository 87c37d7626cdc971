"""No acknowledged rating is lost: 8 writers at once against the real server process, and a server killed
with SIGKILL in the middle of a stream of writes."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest

from loyaltylens.feedback.client import write_concurrently
from loyaltylens.feedback.process import feedback_process
from loyaltylens.feedback.store import SQLiteFeedbackStore
from loyaltylens.local.launcher import LOOPBACK, free_port
from tests.feedback.conftest import make_feedback, make_offer

pytestmark = pytest.mark.slow

WRITERS, WRITES = 8, 1000


def _streams(writers: int, writes: int) -> list[list]:
    return [
        [make_feedback(make_offer(f"d-{w}-{i % 50}"), key=f"w{w}-{i}-{uuid.uuid4().hex[:6]}") for i in range(writes)]
        for w in range(writers)
    ]


def _stored_keys(data_dir) -> list[str]:
    with SQLiteFeedbackStore(data_dir / "feedback" / "feedback.sqlite") as store:
        return store.feedback_frame()["idempotency_key"].tolist()


def test_eight_concurrent_writers_lose_nothing(feedback_server):
    base_url, data_dir, _ = feedback_server
    results = write_concurrently(base_url, _streams(WRITERS, WRITES))
    assert [r.error for r in results] == [None] * WRITERS
    acknowledged = [key for r in results for key in r.acknowledged]
    assert len(acknowledged) == WRITERS * WRITES
    stored = _stored_keys(data_dir)
    assert sorted(stored) == sorted(acknowledged)  # every acknowledged write once, nothing else


def test_a_server_killed_mid_stream_keeps_every_acknowledged_write(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    env = {"LOYALTYLENS_DATA_DIR": str(data_dir)}
    streams = _streams(4, 2000)
    server = feedback_process(port, tmp_path / "feedback.log", env=env).start()
    results: list = []
    writer = threading.Thread(target=lambda: results.extend(write_concurrently(f"http://{LOOPBACK}:{port}", streams)))
    try:
        writer.start()
        deadline = time.monotonic() + 60
        while _count_rows(data_dir) < 300 and time.monotonic() < deadline:  # well into the stream
            time.sleep(0.05)
        os.killpg(server.pid, signal.SIGKILL)
        server.process.wait()
        writer.join(60)
    finally:
        server.stop()
    assert all(r.error is not None for r in results), "the writers should have been cut off mid-stream"
    acknowledged = {key for r in results for key in r.acknowledged}
    assert 300 <= len(acknowledged) < 8000
    stored = set(_stored_keys(data_dir))
    assert acknowledged <= stored  # at most the in-flight writes (one per writer) were committed unacknowledged
    assert len(stored - acknowledged) <= len(streams)

    # A restarted server takes the writers' retries of their unacknowledged writes, each stored once.
    with feedback_process(port, tmp_path / "feedback.log", env=env):
        unacknowledged = [stream[len(r.acknowledged) :] for stream, r in zip(streams, results, strict=True)]
        retried = [writes[:5] for writes in unacknowledged]
        again = write_concurrently(f"http://{LOOPBACK}:{port}", retried)
    assert [r.error for r in again] == [None] * len(streams)
    final = _stored_keys(data_dir)
    assert len(final) == len(set(final)) == len(acknowledged) + 5 * len(streams)


def _count_rows(data_dir) -> int:
    path = data_dir / "feedback" / "feedback.sqlite"
    if not path.is_file():
        return 0
    with SQLiteFeedbackStore(path) as store:
        return store.count_feedback()
