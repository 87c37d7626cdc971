"""A small dataset and a feature store built from it, shared by the feature tests."""

import shutil
from pathlib import Path

import pytest

from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset
from loyaltylens.features.store import FeatureStore, VersionInfo

CONFIG = GeneratorConfig(n_customers=3_000, n_days=365, seed=11)


@pytest.fixture(scope="session")
def dataset_config() -> GeneratorConfig:
    return CONFIG


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated dataset; tests must not modify it (copy it first)."""
    return generate_dataset(CONFIG, tmp_path_factory.mktemp("datasets") / dataset_id(CONFIG)).path


@pytest.fixture(scope="session")
def built_store(tmp_path_factory: pytest.TempPathFactory, dataset_dir: Path) -> FeatureStore:
    """A store with one version built at the dataset's end; tests must not publish into it."""
    store = FeatureStore.at(tmp_path_factory.mktemp("feature_store"))
    store.build(dataset_dir)
    return store


@pytest.fixture(scope="session")
def built_version(built_store: FeatureStore) -> VersionInfo:
    return built_store.describe()


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    """An empty store of the test's own."""
    return FeatureStore.at(tmp_path / "feature_store")


@pytest.fixture
def dataset_copy(dataset_dir: Path, tmp_path: Path) -> Path:
    """A copy of the shared dataset that a test may plant events into."""
    return Path(shutil.copytree(dataset_dir, tmp_path / "copy"))
