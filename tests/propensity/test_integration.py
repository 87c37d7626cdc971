"""End to end on real components: generator -> feature store -> `loyaltylens model ...` -> MLflow registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from loyaltylens.config import Settings
from loyaltylens.data.generator import GeneratorConfig, generate_dataset
from loyaltylens.errors import NotFoundError
from loyaltylens.features.definitions import PAIR_FEATURE_NAMES
from loyaltylens.features.store import FeatureStore
from loyaltylens.propensity import cli
from loyaltylens.propensity.cli import app
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.registry import ModelRegistry
from loyaltylens.propensity.train import TrainConfig
from loyaltylens.propensity.workflow import train_from_feature_store

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated dataset, shared by the module."""
    return generate_dataset(GeneratorConfig(n_customers=2000, seed=3), tmp_path_factory.mktemp("dataset")).path


@pytest.fixture
def store_settings(settings_env: Settings, dataset_dir: Path) -> Settings:
    """The settings' own store with one version built from the dataset (pair tables included)."""
    FeatureStore.from_settings(settings_env).build(dataset_dir)
    return settings_env


def test_training_on_real_generator_data_learns_and_records_lineage(store_settings: Settings) -> None:
    outcome = train_from_feature_store(
        settings=store_settings, config=TrainConfig(max_epochs=4, num_threads=1), force=True
    )

    # The production model scores (customer, offer) pairs: its input is the pair contract.
    model_dir = ModelRegistry.from_settings(store_settings).download("challenger")
    assert FeatureContract.load(model_dir).names == PAIR_FEATURE_NAMES
    # On 2,000 customers (a few dozen test positives) it must beat chance; 20k reach ~0.79 (BENCHMARKS.md).
    assert outcome.metrics["test_auc"] > 0.55
    assert "test_oracle_auc" not in outcome.metrics  # training never sees the hidden truth
    # Every AUC carries its customer-cluster bootstrap interval, the comparison with the best baseline (chosen
    # on validation) its paired interval, and the ECE the noise floor of a calibrated model at the same n.
    for split in ("val", "test"):
        assert outcome.metrics[f"{split}_auc_ci_low"] < outcome.metrics[f"{split}_auc"]
        assert outcome.metrics[f"{split}_auc"] < outcome.metrics[f"{split}_auc_ci_high"]
        assert outcome.metrics[f"{split}_ece_noise_floor"] > 0
    (difference,) = [k for k in outcome.metrics if k.startswith("test_auc_minus_") and k.count("_ci_") == 0]
    assert (
        outcome.metrics[difference + "_ci_low"]
        <= outcome.metrics[difference]
        <= outcome.metrics[difference + "_ci_high"]
    )
    assert "## Uncertainty" in (model_dir / "model_card.md").read_text()
    info = FeatureStore.from_settings(store_settings).describe()
    tags = ModelRegistry.from_settings(store_settings).client.get_run(outcome.run_id).data.tags
    assert tags["loyaltylens.feature_version"] == info.version == "v0001"
    assert tags["loyaltylens.dataset_hash"] == info.dataset_hash
    assert tags["loyaltylens.schema_hash"] == info.schema_hash
    assert outcome.version == 1


def test_cli_train_list_promote_rollback_card(store_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "console", Console(width=200))  # tables unwrapped, so cells can be found
    trained = runner.invoke(app, ["train", "--max-epochs", "2", "--force"])
    assert trained.exit_code == 0, trained.output
    assert "registered version 1 as challenger" in trained.output

    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0 and "challenger" in listed.output

    promoted = runner.invoke(app, ["promote"])
    assert promoted.exit_code == 0 and "version 1 is now champion" in promoted.output

    rolled_back = runner.invoke(app, ["rollback"])
    assert isinstance(rolled_back.exception, NotFoundError)  # the root CLI prints it and exits 2
    assert "no previous champion" in str(rolled_back.exception)

    card = runner.invoke(app, ["card", "champion"])
    assert card.exit_code == 0
    assert "# Model card: loyaltylens-propensity v1" in card.output and "### By segment" in card.output


def test_cli_train_without_a_feature_store_fails_clearly(settings_env: Settings) -> None:
    result = runner.invoke(app, ["train"])

    assert isinstance(result.exception, NotFoundError)
    assert "no versions yet" in str(result.exception)
    assert not (settings_env.data_dir / "mlflow.db").exists()  # nothing written
