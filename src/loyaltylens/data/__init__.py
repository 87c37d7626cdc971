"""Synthetic loyalty data: customers, offers, events, campaigns with hold-out, and the hidden ground truth.

Public API::

    config = GeneratorConfig(n_customers=50_000, seed=42)
    info = generate_dataset(config, settings.datasets_dir / dataset_id(config))
    validate_dataset(info.path)
    transactions = load_table(info.path, "transactions")
"""

from loyaltylens.data.generator import (
    DatasetInfo,
    GeneratorConfig,
    acquire_dataset,
    dataset_id,
    generate_customers,
    generate_dataset,
)
from loyaltylens.data.io import load_table, read_manifest
from loyaltylens.data.progress import ProgressCallback
from loyaltylens.data.validate import ValidationReport, validate_dataset

__all__ = [
    "DatasetInfo",
    "GeneratorConfig",
    "ProgressCallback",
    "ValidationReport",
    "acquire_dataset",
    "dataset_id",
    "generate_customers",
    "generate_dataset",
    "load_table",
    "read_manifest",
    "validate_dataset",
]
