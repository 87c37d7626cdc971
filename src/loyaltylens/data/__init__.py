"""Synthetic loyalty data: customers, offers, events, campaigns with hold-out, and the hidden ground truth.

Public API::

    config = GeneratorConfig(n_customers=50_000, seed=42)
    info = generate_dataset(config, settings.datasets_dir / dataset_id(config))
    validate_dataset(info.path)
    transactions = load_table(info.path, "transactions")

The names are resolved lazily: ``loyaltylens.data.vocab`` is imported by the model contract in every
server, and must neither pull in pandas/pyarrow nor form an import cycle with ``features.definitions``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "DatasetInfo": "loyaltylens.data.generator",
    "GeneratorConfig": "loyaltylens.data.generator",
    "ProgressCallback": "loyaltylens.data.progress",
    "dataset_id": "loyaltylens.data.generator",
    "generate_customers": "loyaltylens.data.generator",
    "generate_dataset": "loyaltylens.data.generator",
    "load_table": "loyaltylens.data.io",
    "read_manifest": "loyaltylens.data.io",
    "ValidationReport": "loyaltylens.data.validate",
    "validate_dataset": "loyaltylens.data.validate",
}
__all__ = [
    "DatasetInfo",
    "GeneratorConfig",
    "ProgressCallback",
    "ValidationReport",
    "dataset_id",
    "generate_customers",
    "generate_dataset",
    "load_table",
    "read_manifest",
    "validate_dataset",
]

if TYPE_CHECKING:
    from loyaltylens.data.generator import (
        DatasetInfo,
        GeneratorConfig,
        dataset_id,
        generate_customers,
        generate_dataset,
    )
    from loyaltylens.data.io import load_table, read_manifest
    from loyaltylens.data.progress import ProgressCallback
    from loyaltylens.data.validate import ValidationReport, validate_dataset


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'loyaltylens.data' has no attribute '{name}'")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
