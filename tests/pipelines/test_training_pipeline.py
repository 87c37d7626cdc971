"""The KFP training pipeline: compiled YAML is current, and it runs for real with kfp.local."""

from pathlib import Path

import pytest
import yaml
from kfp import local

from loyaltylens.data import GeneratorConfig, generate_dataset, load_table
from loyaltylens.data.io import table_path
from loyaltylens.features.store import FeatureStore
from loyaltylens.kfp_runner.runner import compile_pipeline, load_pipeline, run_local
from loyaltylens.propensity.registry import ModelRegistry

# Small enough to run the whole pipeline in well under a minute on 2 cores.
TINY = {"n_customers": 1500, "n_days": 150, "max_epochs": 2}
PERMISSIVE_GATE = {"gate_min_auc": 0.5, "gate_max_ece": 0.5, "gate_max_baseline_auc_gap": 1.0}


@pytest.fixture(autouse=True)
def reset_kfp_local():
    yield
    local.config.LocalExecutionConfig.instance = None


def test_compiled_yaml_is_current(tmp_path: Path):
    fresh = compile_pipeline("training", tmp_path / "training.yaml")
    committed = load_pipeline("training").COMPILED
    # Two documents: the pipeline spec, then the kfp-kubernetes platform spec.
    assert list(yaml.safe_load_all(fresh.read_text())) == list(yaml.safe_load_all(committed.read_text())), (
        "pipelines/training.yaml is stale: run `loyaltylens pipeline compile`"
    )


def test_compiled_pipeline_gates_registration(tmp_path: Path):
    spec = next(yaml.safe_load_all(load_pipeline("training").COMPILED.read_text()))
    tasks = spec["root"]["dag"]["tasks"]
    assert {
        "load-data",
        "validate-data",
        "build-features",
        "train-model",
        "evaluate-model",
        "export-torchserve",
    } <= set(tasks)
    conditions = {
        task["taskInfo"]["name"]: task["triggerPolicy"]["condition"]
        for component in spec["components"].values()
        for task in component.get("dag", {}).get("tasks", {}).values()
        if "triggerPolicy" in task
    }
    assert "evaluate-model-passed" in conditions["metrics-pass"]
    assert "evaluate-model-passed" in conditions["metrics-fail"]
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {"ghcr.io/loyaltylens/loyaltylens-train:0.1.0"}


def test_pipeline_registers_a_challenger(isolated_settings):
    run_local("training", {**TINY, **PERMISSIVE_GATE}, isolated_settings)

    versions = ModelRegistry.from_settings(isolated_settings).list_versions()
    assert [v.aliases for v in versions] == [("challenger",)]
    store = FeatureStore.from_settings(isolated_settings)
    assert [v.version for v in store.list_versions()] == ["v0001"]
    model_dir = ModelRegistry.from_settings(isolated_settings).download("challenger")
    assert {"model.pt", "feature_contract.json", "model_card.md", "propensity.mar"} <= {
        p.name for p in model_dir.iterdir()
    }


def test_failed_gate_registers_nothing_and_says_why(isolated_settings):
    run_local("training", {**TINY, "gate_min_auc": 0.999}, isolated_settings)

    registry = ModelRegistry.from_settings(isolated_settings)
    assert registry.list_versions() == []
    runs = registry.client.search_runs([registry._experiment_id()])
    assert len(runs) == 1
    assert runs[0].data.tags["loyaltylens.gate"].startswith("rejected: validation AUC")


def test_invalid_data_stops_the_run_before_features(isolated_settings, tmp_path: Path):
    dataset = generate_dataset(GeneratorConfig(n_customers=500, n_days=60, seed=3), tmp_path / "bad").path
    transactions = load_table(dataset, "transactions")
    transactions.loc[transactions.index[:5], "amount"] = -10.0
    transactions.to_parquet(table_path(dataset, "transactions"), index=False)

    with pytest.raises(RuntimeError, match="validate-data"):
        run_local("training", {"source": str(dataset), **TINY}, isolated_settings)
    assert FeatureStore.from_settings(isolated_settings).list_versions() == []
