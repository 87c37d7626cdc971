"""Tiny datasets with two feature versions each: the training version six weeks before the end (just before
the drifted period starts) and the newest one at the end; undrifted and with a promotion season."""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from loyaltylens.data.drift import DEFAULT_DRIFT_DAYS, DriftScenario
from loyaltylens.data.generator import GeneratorConfig, generate_dataset
from loyaltylens.features.store import FeatureStore

CONFIG = GeneratorConfig(n_customers=1500, n_days=120)


@dataclass(frozen=True)
class VersionedDataset:
    dataset_dir: Path
    store_root: Path
    reference: str
    current: str

    @property
    def store(self) -> FeatureStore:
        return FeatureStore.at(self.store_root)


def _versioned(root: Path, scenario: DriftScenario | None) -> VersionedDataset:
    dataset_dir = root / "dataset"
    generate_dataset(CONFIG, dataset_dir, drift=scenario)
    store = FeatureStore.at(root / "store")
    reference = store.build(dataset_dir, as_of=CONFIG.start + timedelta(days=CONFIG.n_days - DEFAULT_DRIFT_DAYS))
    current = store.build(dataset_dir)
    return VersionedDataset(dataset_dir, root / "store", reference.version, current.version)


@pytest.fixture(scope="session")
def undrifted(tmp_path_factory: pytest.TempPathFactory) -> VersionedDataset:
    return _versioned(tmp_path_factory.mktemp("undrifted"), None)


@pytest.fixture(scope="session")
def promotion(tmp_path_factory: pytest.TempPathFactory) -> VersionedDataset:
    return _versioned(tmp_path_factory.mktemp("promotion"), DriftScenario("promotion"))
