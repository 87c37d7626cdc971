"""Test payload builders shared by the serving tests: valid rows, v1 records, and a way to await KServe's
async clients from plain tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine

import numpy as np

from loyaltylens.propensity.contract import FeatureContract
from tests.model_samples import random_feature_rows

MODEL_NAME = "propensity"
CUSTOMER_IDS = np.arange(1000, 1100, dtype=np.int64)  # the customers in the test feature store


def as_records(contract: FeatureContract, rows: np.ndarray) -> list[dict]:
    """v1 feature records for ``rows``, categoricals as their labels."""
    return [
        {
            spec.name: spec.categories[int(value)] if spec.is_categorical else float(value)
            for spec, value in zip(contract.fields, row, strict=True)
        }
        for row in rows
    ]


def valid_record(contract: FeatureContract, **changes) -> dict:
    """One valid v1 feature record, with ``changes`` applied (to plant a bad value)."""
    record = as_records(contract, random_feature_rows(contract, 1, seed=7))[0]
    record.update(changes)
    return record


def without(record: dict, name: str) -> dict:
    """``record`` with feature ``name`` missing."""
    return {k: v for k, v in record.items() if k != name}


def run(coroutine_fn: Callable[[], Coroutine]):
    """Run an async client call to completion (KServe's clients are async; the tests are not)."""
    return asyncio.run(coroutine_fn())
