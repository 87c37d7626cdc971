"""The KFP training pipeline: compiled YAML is current, and it runs for real with kfp.local."""

from pathlib import Path

import pytest
import yaml
from kfp import local

from loyaltylens.config import get_settings
from loyaltylens.data import GeneratorConfig, generate_dataset, load_table
from loyaltylens.data.io import table_path
from loyaltylens.decision.chain import build_decision_chain
from loyaltylens.decision.cli import scorer_for
from loyaltylens.decision.margin import MARGIN_MODEL_FILENAME
from loyaltylens.features.definitions import PAIR_FEATURE_NAMES
from loyaltylens.features.store import FeatureStore
from loyaltylens.generation.model_store import generator_registry
from loyaltylens.kfp_runner.platform import (
    CONFIG_MAP,
    CONFIG_MAP_KEYS,
    POD_LABEL,
    SCRATCH_MOUNT,
    SCRATCH_VOLUME,
    SECRET_KEYS,
)
from loyaltylens.kfp_runner.runner import (
    PIPELINES,
    arguments_from_settings,
    compile_pipeline,
    load_pipeline,
    parse_arguments,
    run_local,
)
from loyaltylens.local.postgres import with_postgres
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.model_card import ModelCard
from loyaltylens.propensity.registry import ModelRegistry

# Small enough to run the whole pipeline in well under a minute on 2 cores.
TINY = {"n_customers": 1500, "n_days": 150, "max_epochs": 2, "generator_train_steps": 30}
PERMISSIVE_GATE = {"gate_min_auc": 0.5, "gate_max_ece": 0.5, "gate_max_baseline_auc_gap": 1.0}


@pytest.fixture(autouse=True)
def reset_kfp_local():
    yield
    local.config.LocalExecutionConfig.instance = None


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_compiled_yaml_is_current(tmp_path: Path, name: str):
    fresh = compile_pipeline(name, tmp_path / f"{name}.yaml")
    committed = load_pipeline(name).COMPILED
    assert list(yaml.safe_load_all(fresh.read_text())) == list(yaml.safe_load_all(committed.read_text())), (
        f"pipelines/{name}.yaml is stale: run `loyaltylens pipeline compile`"
    )


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_the_local_runner_starts_postgres_for_the_pipelines_whose_tasks_use_it(name: str):
    """USES_POSTGRES (the subprocess runner starts the embedded server and hands its URL to the tasks) is
    set exactly on the pipelines with a Postgres task: index_offers, the offer index."""
    module = load_pipeline(name)
    spec = next(yaml.safe_load_all(module.COMPILED.read_text()))
    assert module.USES_POSTGRES == ("exec-index-offers" in spec["deploymentSpec"]["executors"])


def compiled_documents() -> tuple[dict, dict]:
    """The compiled IR: the pipeline spec, then the Kubernetes platform spec kfp-kubernetes adds."""
    spec, platform = yaml.safe_load_all(load_pipeline("training").COMPILED.read_text())
    return spec, platform


def test_compiled_pipeline_gates_registration(tmp_path: Path):
    spec, _ = compiled_documents()
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


@pytest.mark.pipeline_run
def test_pipeline_registers_a_challenger_and_fills_what_the_decision_chain_reads(isolated_settings):
    run_local("training", {**TINY, **PERMISSIVE_GATE}, isolated_settings)

    versions = ModelRegistry.from_settings(isolated_settings).list_versions()
    assert [v.aliases for v in versions] == [("challenger",)]
    store = FeatureStore.from_settings(isolated_settings)
    assert [v.version for v in store.list_versions()] == ["v0001"]
    model_dir = ModelRegistry.from_settings(isolated_settings).download("challenger")
    assert {"model.pt", "feature_contract.json", "model_card.md", "propensity.mar", MARGIN_MODEL_FILENAME} <= {
        p.name for p in model_dir.iterdir()
    }
    # The registered model is the offer-aware one; its card carries what only the evaluate step (which reads the
    # truth) could measure: ceilings and the NDCG@10 of its offer ranking against true redemption probability.
    assert FeatureContract.load(model_dir).names == PAIR_FEATURE_NAMES
    card = ModelCard.load(model_dir)
    assert 0 < card.truth_evaluation["test_ndcg_at_10"] <= 1
    assert 0.5 < card.truth_evaluation["test_oracle_auc"] <= 1
    assert "test_auc_minus_" in " ".join(card.uncertainty)

    # The offer index and the copy generator the same run built are what run_for_customer uses.
    assert ModelRegistry.from_settings(isolated_settings).ensure_champion() == 1
    assert generator_registry(isolated_settings).ensure_champion() == 1
    # the offer index is in the Postgres the run used: the embedded one under the data dir, as the CLI finds it
    everyone = with_postgres(isolated_settings).model_copy(update={"propensity_threshold": 0.0})
    chain = build_decision_chain(everyone, scorer_for(everyone, None, None))
    customer = int(store.get_online_frame()["customer_id"].iloc[0])
    decision = chain.run_for_customer(customer)
    assert decision.retriever == "pgvector" and decision.offers and decision.copy is not None
    assert len(decision.offer_propensities) == len(decision.offers)  # candidates scored as (customer, offer) pairs
    assert decision.generator.startswith("local:")  # the copy writer over the generator the run trained
    # The margin model fitted in its own step and registered with the version: offers are chosen by margin.
    assert chain.margin_model is not None and decision.expected_margin is not None
    assert "expected margin" in decision.reason and "margin" in decision.latency_ms


@pytest.mark.pipeline_run
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


def test_every_task_gets_its_cluster_env_and_no_shared_volume():
    spec, platform = compiled_documents()
    executors = spec["deploymentSpec"]["executors"]
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(k8s) == set(executors)  # every task, the gated ones included
    for name, config in k8s.items():
        (config_map,) = config["configMapAsEnv"]
        assert config_map["configMapName"] == CONFIG_MAP, name
        assert {e["configMapKey"] for e in config_map["keyToEnv"]} == set(CONFIG_MAP_KEYS), name
        secrets = {s["secretName"]: {e["secretKey"] for e in s["keyToEnv"]} for s in config["secretAsEnv"]}
        assert secrets == {secret: set(keys) for secret, keys in SECRET_KEYS.items()}, name
        assert config["emptyDirMounts"] == [{"mountPath": SCRATCH_MOUNT, "volumeName": SCRATCH_VOLUME}], name
        assert "pvcMount" not in config, f"{name} mounts a volume another step could share"
        assert config["podMetadata"]["labels"] == dict([POD_LABEL]), name


def test_run_arguments_default_to_the_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LOYALTYLENS_N_CUSTOMERS", "1234")
    monkeypatch.setenv("LOYALTYLENS_GATE_MAX_ECE", "0.05")
    get_settings.cache_clear()
    try:
        arguments = arguments_from_settings("training", get_settings(), parse_arguments("training", ["seed=7"]))
    finally:
        get_settings.cache_clear()
    assert arguments["n_customers"] == 1234 and arguments["gate_max_ece"] == 0.05
    assert arguments["seed"] == 7  # a -p argument wins over the setting
    assert "source" not in arguments  # not a setting: the pipeline's own default applies
