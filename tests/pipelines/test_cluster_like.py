"""Cluster-like local mode: the training pipeline with no disk shared between its steps.

Every service is reached by URI, as on a cluster: MLflow is a tracking server over HTTP with its artifacts in
the S3-compatible object store (moto), the feature store is a DuckLake with its catalog in Postgres and its
data files in the object store, and every task runs with its own empty scratch data dir
(``LOYALTYLENS_TASK_SCRATCH``), so a step that relied on a file another step left on disk would fail here.
The champion the pipeline registers is then served by the KServe predictor from ``models:/…@champion``
through the tracking server, behind the transformer reading features from the object store.
"""

from pathlib import Path

import httpx
import numpy as np
import pytest
from kfp import local

from loyaltylens.config import Settings, get_settings
from loyaltylens.decision.scorers import InProcessScorer
from loyaltylens.features.store import FeatureStore
from loyaltylens.kfp_runner.runner import run_local
from loyaltylens.local.services import BUCKET, FEATURE_STORE_PREFIX, MLFLOW_ARTIFACTS_PREFIX, local_services
from loyaltylens.local.stack import start_propensity_stack
from loyaltylens.objectstore import S3Options
from loyaltylens.propensity.registry import ModelRegistry
from loyaltylens.runtime.model_source import champion_uri, resolve_model_dir

TINY = {"n_customers": 1500, "n_days": 150, "max_epochs": 2, "generator_train_steps": 30}
PERMISSIVE_GATE = {"gate_min_auc": 0.5, "gate_max_ece": 0.5, "gate_max_baseline_auc_gap": 1.0}


@pytest.fixture
def cluster_like(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Local services up, and this process (so every kfp.local task it starts) pointed at them."""
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(tmp_path / "services-host"))
    get_settings.cache_clear()
    with local_services(get_settings()) as services:
        for key, value in services.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(tmp_path / "driver"))
        monkeypatch.setenv("LOYALTYLENS_TASK_SCRATCH", "true")
        get_settings.cache_clear()
        yield get_settings()
    get_settings.cache_clear()
    local.config.LocalExecutionConfig.instance = None


def _object_keys(settings: Settings, prefix: str) -> list[str]:
    listing = S3Options.from_settings(settings).client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


@pytest.mark.pipeline_run
def test_pipeline_crosses_steps_only_by_artifacts_and_services_then_serves_the_champion(
    cluster_like: Settings, tmp_path: Path
) -> None:
    settings = cluster_like
    assert settings.tracking_uri.startswith("http://") and settings.feature_store_data_uri.startswith("s3://")

    run = run_local("training", {**TINY, **PERMISSIVE_GATE}, settings)
    assert set(run.task_status.values()) == {"SUCCESS"} and "register-model" in run.task_status

    # The state lives in the services, not in the driver's data dir (which holds only kfp.local's artifacts).
    assert sorted(p.name for p in settings.data_dir.iterdir()) == ["pipeline_runs"]
    assert any(key.endswith(".parquet") for key in _object_keys(settings, FEATURE_STORE_PREFIX))
    assert any(key.endswith("model.pt") for key in _object_keys(settings, MLFLOW_ARTIFACTS_PREFIX))

    registry = ModelRegistry.from_settings(settings)
    assert [v.aliases for v in registry.list_versions()] == [("challenger",)]
    assert registry.ensure_champion() == 1

    # Servers with empty data dirs of their own: the model comes from the tracking server, the features
    # from the object store.
    # The champion is the offer-aware model: it is asked about (customer, offer) pairs.
    store = FeatureStore.from_settings(settings)
    ids = np.repeat(store.get_online_frame()["customer_id"].to_numpy()[:3], 2).tolist()
    offers = np.tile(store.get_offers()["offer_id"].to_numpy()[:2], 3).tolist()
    server_env = {"LOYALTYLENS_DATA_DIR": str(tmp_path / "servers")}
    with start_propensity_stack(champion_uri(settings), tmp_path / "logs", env=server_env) as stack:
        url = f"{stack.transformer.http_url}/v1/models/{stack.model_name}:predict"
        body = {"customer_ids": ids, "offer_ids": offers}
        response = httpx.post(url, json=body, timeout=30).raise_for_status().json()
    served = np.array([p["propensity"] for p in response["predictions"]])
    assert response["feature_version"] == "v0001"

    champion = resolve_model_dir(champion_uri(settings), settings.tracking_uri, tmp_path / "download")
    expected = InProcessScorer(champion).score(store.get_pair_features(ids, offers).values)
    np.testing.assert_allclose(served, expected, atol=1e-6)
