"""The eval-gate pipeline's propensity branch under kfp.local: a challenger that learnt (the default training)
replaces a champion that did not (learning rate 1e-7, so its weights stay at their random start) through an audited
alias move; a second challenger, trained on inverted labels (a labelling bug), is refused and the gate run says why.
Compared on the validation campaign only, from the dataset and feature artifacts the pipeline builds itself.

The data is as small as keeps the outcome independent of training luck. At 1,500 customers and 150 days (two training
snapshots, 14 validation redemptions) the TabTransformer's validation AUC ranged 0.48-0.72 over three seeds, and an
inverted model's 0.31-0.53, so the test passed or failed by the seed. At 3,000 customers and 220 days (six training
snapshots, 43 validation redemptions) the learnt model gives 0.70-0.75 and the inverted one 0.26-0.31 over the same
seeds."""

from pathlib import Path

import pytest
from kfp import local

from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset
from loyaltylens.evaluation.gate import GATE_EXPERIMENT, GATE_TAGS
from loyaltylens.features.definitions import LABEL_COLUMN
from loyaltylens.features.store import FeatureStore
from loyaltylens.kfp_runner.runner import run_local
from loyaltylens.propensity.registry import ModelRegistry
from loyaltylens.propensity.train import TrainConfig
from loyaltylens.propensity.workflow import train_and_register
from loyaltylens.registry.audit import audit_log

TINY = GeneratorConfig(n_customers=3000, n_days=220, seed=42)
GATE_ARGUMENTS = {"candidate": "", "propensity_challenger": "challenger", "n_customers": 3000, "n_days": 220,
                  "seed": 42}  # fmt: skip
UNLEARNT = 1e-7  # the learning rate of a model that stays at its random initialisation


@pytest.fixture(autouse=True)
def reset_kfp_local():
    yield
    local.config.LocalExecutionConfig.instance = None


def _register(settings, frame, **training) -> int:
    config = TrainConfig.from_settings(settings, **training)
    return train_and_register(frame, ModelRegistry.from_settings(settings), config=config, force=True).version


@pytest.mark.pipeline_run
def test_gate_promotes_a_better_challenger_and_refuses_a_worse_one(isolated_settings, tmp_path: Path):
    dataset = generate_dataset(TINY, tmp_path / dataset_id(TINY)).path
    store = FeatureStore.from_settings(isolated_settings)
    features = store.build(dataset, label_window_days=isolated_settings.label_window_days)
    frame = store.get_training_frame(features.version)
    registry = ModelRegistry.from_settings(isolated_settings)
    assert _register(isolated_settings, frame, max_epochs=1, learning_rate=UNLEARNT) == 1
    registry.promote(1)
    assert _register(isolated_settings, frame) == 2

    run_local("eval_gate", GATE_ARGUMENTS, isolated_settings, tmp_path / "better.log")
    assert registry.resolve("champion") == 2
    moves = audit_log(registry.client, registry.tracking_uri, "model", registry.model_name)
    assert [(m.alias, m.previous, m.version, m.who) for m in moves] == [("champion", "1", "2", "eval-gate")]
    assert "validation campaign 13" in moves[0].why and "AUC v2" in moves[0].why

    inverted = frame.assign(**{LABEL_COLUMN: 1 - frame[LABEL_COLUMN]})
    assert _register(isolated_settings, inverted) == 3
    run_local("eval_gate", GATE_ARGUMENTS, isolated_settings, tmp_path / "worse.log")
    assert registry.resolve("champion") == 2  # kept
    assert registry.resolve("challenger") == 3

    client = registry.client
    runs = client.search_runs(
        [client.get_experiment_by_name(GATE_EXPERIMENT).experiment_id], order_by=["attributes.start_time ASC"]
    )
    decisions = [(r.data.tags[GATE_TAGS["candidate"]], r.data.tags[GATE_TAGS["champion"]],
                  r.data.tags[GATE_TAGS["decision"]]) for r in runs]  # fmt: skip
    assert decisions == [("2", "1", "promoted"), ("3", "2", "kept-champion")]
    assert "significantly below the champion" in runs[1].data.tags[GATE_TAGS["reasons"]]
    refused = runs[1].data.metrics
    assert refused["val_auc_difference_high"] < 0 < runs[0].data.metrics["val_auc_difference"]
    assert {"policy_value_difference", "policy_value_difference_low", "validation_campaign"} <= set(refused)
    assert len(audit_log(client, registry.tracking_uri, "model", registry.model_name)) == 1  # nothing moved
