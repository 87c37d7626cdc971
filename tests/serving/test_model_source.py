"""Where the predictor's model comes from: a model directory, or the MLflow registry's champion alias."""

from __future__ import annotations

import numpy as np
import pytest

from loyaltylens.config import Settings
from loyaltylens.errors import NotFoundError
from loyaltylens.propensity.registry import ModelRegistry
from loyaltylens.runtime.model_source import champion_uri, resolve_model_dir
from serving.propensity.model import PropensityModel
from tests.model_samples import random_feature_rows
from tests.serving.payloads import MODEL_NAME, run


@pytest.fixture(scope="module")
def registry_settings(tmp_path_factory, model_dir) -> Settings:
    """A registry in a temporary SQLite store whose champion is the test model."""
    root = tmp_path_factory.mktemp("registry")
    settings = Settings(data_dir=root, mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    registry = ModelRegistry(
        settings.tracking_uri, settings.propensity_model_name, artifact_root=root / "artifacts"
    )
    run_id = registry.log_training_run(
        params={}, epoch_metrics=[], metrics={"auc": 0.5}, model_dir=model_dir, lineage={}
    )
    registry.promote(registry.register(model_dir, run_id, {"auc": 0.5}))
    return settings


def test_predictor_serves_the_registry_champion(registry_settings, contract, reference):
    model = PropensityModel(
        MODEL_NAME, champion_uri(registry_settings), registry_settings.tracking_uri, registry_settings.models_dir, 64
    )
    assert model.load() and model.ready
    version_dir = registry_settings.models_dir / f"{registry_settings.propensity_model_name}-v1"
    assert (version_dir / "model.pt").is_file()  # downloaded once into the data dir, reused on restart
    assert [p.name for p in registry_settings.models_dir.iterdir()] == [version_dir.name]  # no staging left
    rows = random_feature_rows(contract, 4, seed=21)

    async def predict():
        response, _ = await model({"instances": rows.tolist()})
        return response["predictions"]

    np.testing.assert_allclose(run(predict), reference(rows)[:, 0], atol=1e-6)


def test_unknown_alias_or_directory_is_not_found(registry_settings, tmp_path):
    uri = f"models:/{registry_settings.propensity_model_name}@nobody"
    with pytest.raises(NotFoundError, match="nobody"):
        resolve_model_dir(uri, registry_settings.tracking_uri, tmp_path)
    with pytest.raises(NotFoundError, match="does not exist"):
        resolve_model_dir(tmp_path / "missing", registry_settings.tracking_uri, tmp_path)
