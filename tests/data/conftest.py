"""A small generated dataset shared by the data tests (3,000 customers over a full year)."""

from pathlib import Path

import pytest

from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset

SMALL_CONFIG = GeneratorConfig(n_customers=3_000, n_days=365, seed=7)


@pytest.fixture(scope="session")
def small_config() -> GeneratorConfig:
    return SMALL_CONFIG


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the generated dataset; tests must not modify it (copy it first)."""
    return generate_dataset(SMALL_CONFIG, tmp_path_factory.mktemp("datasets") / dataset_id(SMALL_CONFIG)).path
