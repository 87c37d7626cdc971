"""Decisions run on one native thread; overlapping decisions share that limit and the last one out restores it."""

import threading

import torch
from threadpoolctl import threadpool_info

from loyaltylens.decision.chain import _OneThreadScope


def _openmp_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"}


def test_overlapping_decisions_keep_one_thread_until_the_last_ends() -> None:
    import lightgbm  # noqa: F401  (loads an OpenMP runtime for threadpoolctl to limit, as a decision does)

    scope, before = _OneThreadScope(), torch.get_num_threads()
    torch.set_num_threads(2)  # also torch's OpenMP count in this thread
    before_openmp = _openmp_threads()
    try:
        first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
        seen: dict[str, int] = {}

        def first() -> None:
            with scope():
                first_in.set()
                second_in.wait(5)
            first_out.set()

        def second() -> None:
            first_in.wait(5)
            with scope():
                second_in.set()
                first_out.wait(5)
                seen["after the first ended"] = torch.get_num_threads()
                seen["openmp"] = max(_openmp_threads() or {1})

        workers = [threading.Thread(target=first), threading.Thread(target=second)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10)
        assert seen == {"after the first ended": 1, "openmp": 1}
        assert torch.get_num_threads() == 2  # restored once no decision runs
        assert _openmp_threads() == before_openmp
    finally:
        torch.set_num_threads(before)
