"""Asyncio micro-batching: concurrent requests share one forward pass.

Each caller submits a validated ``[n, F]`` matrix and awaits its own ``[n, 1]`` slice of the result. One
worker task drains the queue: when a request arrives alone it runs at once (batch-1 latency pays no
window); when others are already waiting, the server is under load, so the worker holds the batch open for
one short window to let more requests join, up to ``max_batch_rows``, then runs a single forward pass and
fans the rows back. The forward pass runs in a worker thread (torch releases the GIL), so the event loop
keeps parsing the next requests while the current batch computes, and those form the next batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_BATCH_ROWS = 256
DEFAULT_WINDOW_S = 0.001


@dataclass
class _Pending:
    rows: np.ndarray  # [n, F]
    future: asyncio.Future


class MicroBatcher:
    """Group concurrent ``submit`` calls into one call of ``predict_fn`` per batch.

    Args:
        predict_fn: maps a float32 ``[N, F]`` matrix to ``[N, K]`` outputs; called from a worker thread,
            one batch at a time.
        max_batch_rows: a batch stops growing at this many rows; a single larger request runs alone.
        window_s: how long a batch that already has company waits for more requests.
    """

    def __init__(
        self,
        predict_fn: Callable[[np.ndarray], np.ndarray],
        max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
        window_s: float = DEFAULT_WINDOW_S,
    ):
        if max_batch_rows < 1:
            raise ValueError("max_batch_rows must be at least 1")
        self.predict_fn = predict_fn
        self.max_batch_rows = max_batch_rows
        self.window_s = window_s
        self._queue: deque[_Pending] = deque()
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None

    async def submit(self, rows: np.ndarray) -> np.ndarray:
        """Score ``rows`` (``[n, F]``) as part of the next batch and return its ``[n, K]`` outputs."""
        self._ensure_worker()
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(rows, future))
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Stop the worker; requests still queued fail with ``CancelledError``."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        while self._queue:
            self._queue.popleft().future.cancel()

    def _ensure_worker(self) -> None:
        # Created lazily: the server's event loop only exists once requests arrive, long after load().
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = self._take_batch()
            if self._queue and self._batch_rows(batch) < self.max_batch_rows and self.window_s > 0:
                # Others are already waiting: the server is busy, so a short wait fills the batch further.
                await asyncio.sleep(self.window_s)
                batch += self._take_batch(self._batch_rows(batch))
            await self._score(batch)

    def _take_batch(self, rows_taken: int = 0) -> list[_Pending]:
        """Pop queued requests while they fit in ``max_batch_rows`` (at least one if none is taken yet)."""
        batch: list[_Pending] = []
        while self._queue:
            n = len(self._queue[0].rows)
            if (rows_taken or batch) and rows_taken + n > self.max_batch_rows:
                break
            batch.append(self._queue.popleft())
            rows_taken += n
        return batch

    @staticmethod
    def _batch_rows(batch: list[_Pending]) -> int:
        return sum(len(p.rows) for p in batch)

    async def _score(self, batch: list[_Pending]) -> None:
        live = [p for p in batch if not p.future.done()]  # callers that gave up are skipped
        if not live:
            return
        try:
            matrix = live[0].rows if len(live) == 1 else np.concatenate([p.rows for p in live])
            if len(live) == 1 and not self._queue:
                # A lone request: the thread hand-off would cost more than the loop stalls for its forward.
                outputs = self.predict_fn(matrix)
            else:
                outputs = await asyncio.to_thread(self.predict_fn, matrix)
        except Exception as exc:  # the batch's callers each get the error; the worker keeps serving
            for pending in live:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        start = 0
        for pending in live:
            stop = start + len(pending.rows)
            if not pending.future.done():
                pending.future.set_result(outputs[start:stop])
            start = stop
