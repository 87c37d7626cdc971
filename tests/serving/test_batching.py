"""The micro-batcher: concurrent submits share forward passes, and every caller gets exactly its rows."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from loyaltylens.runtime.batching import MicroBatcher


class RecordingModel:
    """Doubles each row's first column and records the batch sizes it was called with."""

    def __init__(self, fail: bool = False):
        self.batch_rows: list[int] = []
        self.fail = fail

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        self.batch_rows.append(len(matrix))
        if self.fail:
            raise RuntimeError("forward failed")
        return matrix[:, :1] * 2


def _rows(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.float32).reshape(n, 1).repeat(3, axis=1)


async def _submit_all(batcher: MicroBatcher, requests: list[np.ndarray]) -> list[np.ndarray]:
    try:
        return await asyncio.gather(*(batcher.submit(rows) for rows in requests))
    finally:
        await batcher.close()


def test_concurrent_requests_share_forward_passes_and_get_their_own_rows():
    model = RecordingModel()
    requests = [_rows(10 * i, 1 + i % 3) for i in range(50)]
    results = asyncio.run(_submit_all(MicroBatcher(model, max_batch_rows=64), requests))
    for rows, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result, rows[:, :1] * 2)
    assert sum(model.batch_rows) == sum(len(r) for r in requests)
    assert len(model.batch_rows) < len(requests) / 4  # batched, not one call per request
    assert max(model.batch_rows) <= 64


def test_a_lone_request_runs_at_once_without_waiting_for_the_window():
    model = RecordingModel()
    batcher = MicroBatcher(model, window_s=5.0)  # a window this long would time the test out

    async def lone():
        return await asyncio.wait_for(_submit_all(batcher, [_rows(0, 2)]), timeout=1.0)

    np.testing.assert_array_equal(asyncio.run(lone())[0], [[0.0], [2.0]])
    assert model.batch_rows == [2]


def test_a_request_larger_than_the_batch_limit_runs_alone():
    model = RecordingModel()
    results = asyncio.run(_submit_all(MicroBatcher(model, max_batch_rows=4), [_rows(0, 10), _rows(100, 2)]))
    assert [len(r) for r in results] == [10, 2]
    assert 10 in model.batch_rows and sum(model.batch_rows) == 12


def test_a_failed_forward_pass_fails_its_callers_and_the_batcher_keeps_working():
    model = RecordingModel(fail=True)
    batcher = MicroBatcher(model)

    async def scenario():
        outcomes = await asyncio.gather(
            *(batcher.submit(_rows(i, 1)) for i in range(5)), return_exceptions=True
        )
        model.fail = False
        after = await batcher.submit(_rows(7, 1))
        await batcher.close()
        return outcomes, after

    outcomes, after = asyncio.run(scenario())
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    np.testing.assert_array_equal(after, [[14.0]])


def test_max_batch_rows_must_be_positive():
    with pytest.raises(ValueError):
        MicroBatcher(RecordingModel(), max_batch_rows=0)
