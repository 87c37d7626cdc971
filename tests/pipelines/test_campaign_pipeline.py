"""The campaign pipeline under kfp.local on tiny data (1,500 customers, 150 days): a champion (an untrained
offer-aware model with a margin model fitted on the dataset's logs) decides every member of the feature version
in four shards, within a budget that binds; the decisions equal the unsharded ones."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kfp import local

from loyaltylens.config import Settings, setting_default
from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset
from loyaltylens.data.io import read_manifest
from loyaltylens.decision import evaluation
from loyaltylens.decision.batch import (
    DECISION_COLUMNS,
    NO_ELIGIBLE_OFFER,
    NO_LIMIT,
    PROVENANCE,
    campaign_audience,
    decide_scored,
    margin_model_id,
    score_shard,
    send_limits,
)
from loyaltylens.decision.margin import MARGIN_MODEL_FILENAME
from loyaltylens.decision.policy import OVER_BUDGET, SendLimits
from loyaltylens.decision.scorers import InProcessScorer
from loyaltylens.features.store import FeatureStore
from loyaltylens.kfp_runner.runner import arguments_from_settings, load_pipeline, parse_arguments, run_local
from loyaltylens.propensity.registry import ModelRegistry
from tests.model_samples import export_untrained_model

DATA = GeneratorConfig(n_customers=1500, n_days=150, seed=42)
SHARDS = setting_default("campaign_shards")  # compiled into the pipeline's fan-out


@pytest.fixture(autouse=True)
def reset_kfp_local():
    yield
    local.config.LocalExecutionConfig.instance = None


def test_compiled_campaign_fans_out_over_the_listed_shards_and_collects_them():
    spec = next(yaml.safe_load_all(load_pipeline("campaign").COMPILED.read_text()))
    tasks = spec["root"]["dag"]["tasks"]
    (loop,) = (name for name, task in tasks.items() if "parameterIterator" in task)
    assert tasks[loop]["parameterIterator"]["items"]["raw"] == str(list(range(SHARDS)))
    assert tasks[loop]["taskInfo"]["name"] == "shards"
    assert (
        tasks["decide-campaign-shards"]["inputs"]["artifacts"]["scored"]["taskOutputArtifact"]["producerTask"] == loop
    )
    assert spec["components"]["comp-decide-campaign-shards"]["inputDefinitions"]["artifacts"]["scored"][
        "isArtifactList"
    ]
    # the limits are parameters: the settings' when set, else the pipeline's default, no limit
    assert parse_arguments("campaign", ["campaign_budget_eur=120.5", "campaign_contact_cap=7"]) == {
        "campaign_budget_eur": 120.5,
        "campaign_contact_cap": 7,
    }
    assert "campaign_budget_eur" not in arguments_from_settings("campaign", Settings(campaign_budget_eur=None))
    capped = arguments_from_settings("campaign", Settings(campaign_contact_cap=50))
    assert capped["campaign_contact_cap"] == 50 and capped["n_customers"] == Settings().n_customers
    assert send_limits(NO_LIMIT, 50) == SendLimits(None, 50) and send_limits(0.0, NO_LIMIT) == SendLimits(0.0, None)


def _register_champion(settings, dataset: Path, tmp_path: Path, feature_version: str) -> Path:
    """An untrained offer-aware model with a margin model fitted on the dataset's last campaign, as champion."""
    model_dir = export_untrained_model(tmp_path / "model", feature_version=feature_version, pairs=True)
    last = len(read_manifest(dataset)["period"]["campaign_dates"])
    margin = evaluation.fit_margin_model(InProcessScorer(model_dir).score, dataset, last, settings)
    margin.save(model_dir / MARGIN_MODEL_FILENAME)
    registry = ModelRegistry.from_settings(settings)
    run_id = registry.log_training_run(
        params={}, epoch_metrics=[], metrics={}, model_dir=model_dir, lineage={"feature_version": feature_version}
    )
    registry.promote(registry.register(model_dir, run_id, {}))
    return model_dir


def _unsharded(settings, dataset: Path, model_dir: Path, limits: SendLimits) -> pd.DataFrame:
    """The same library functions with the whole audience in one shard, in this process."""
    store = FeatureStore.from_settings(settings)
    audience = campaign_audience(dataset, store, "latest", settings.label_window_days, 1)
    scorer = InProcessScorer(model_dir)
    scored = score_shard(audience.pairs, 0, store, audience.feature_version, scorer.score, scorer.margin_model, 4096)
    return decide_scored([scored], audience.customers, limits)


@pytest.mark.pipeline_run
@pytest.mark.timeout(900)
def test_campaign_pipeline_decides_every_member_once_like_the_unsharded_decision_within_the_budget(
    isolated_settings, tmp_path: Path
):
    settings = isolated_settings
    dataset = generate_dataset(DATA, tmp_path / dataset_id(DATA)).path
    store = FeatureStore.from_settings(settings)
    info = store.build(dataset, label_window_days=settings.label_window_days)
    model_dir = _register_champion(settings, dataset, tmp_path, info.version)
    unlimited = _unsharded(settings, dataset, model_dir, SendLimits())
    spend = unlimited.loc[unlimited["send"], "expected_cost"].sum()
    assert unlimited["send"].sum() > 10, "the planted champion must send to some customers for the budget to bind"
    budget = float(spend / 2)

    run = run_local("campaign", {"source": str(dataset), "campaign_budget_eur": budget}, settings)
    assert set(run.task_status.values()) == {"SUCCESS"}
    (run_root,) = settings.pipeline_root.glob("loyaltylens-campaign-*")
    # one pod per shard; their pairs together are the audience's eligible pairs, each once
    shards = sorted(run_root.glob("for-loop-*-iteration-*/score-campaign-shard/scored"))
    assert len(shards) == SHARDS
    union = pd.concat([pd.read_parquet(p) for p in shards]).sort_values(["customer_id", "offer_id"])
    audience = campaign_audience(dataset, store, "latest", settings.label_window_days, SHARDS)
    assert (
        union[["customer_id", "offer_id"]].values.tolist()
        == audience.pairs[["customer_id", "offer_id"]].values.tolist()
    )

    step = run_root / "decide-campaign-shards"
    decisions = pd.read_parquet(step / "decisions")
    (artifact,) = json.loads((step / "executor_output.json").read_text())["artifacts"]["decisions"]["artifacts"]
    members = store.get_online_frame(info.version)["customer_id"].to_numpy()
    # every member of the feature version exactly once, by id
    assert decisions["customer_id"].tolist() == sorted(members.tolist())
    assert set(decisions.columns) == set(DECISION_COLUMNS) | set(PROVENANCE)
    # the versions that produced them, in every row
    registry = ModelRegistry.from_settings(settings)
    assert decisions["model_name"].unique().tolist() == [registry.model_name]
    assert decisions["model_version"].unique().tolist() == [str(registry.resolve("champion"))]
    assert decisions["feature_version"].unique().tolist() == [info.version]
    assert decisions["margin_model"].unique().tolist() == [margin_model_id(model_dir)]
    assert {key: artifact["metadata"][key] for key in PROVENANCE} == decisions.loc[0, list(PROVENANCE)].to_dict()
    assert artifact["metadata"]["budget_eur"] == budget and artifact["metadata"]["contact_cap"] is None

    # the budget binds and holds: the sent offers' expected spend is within it, the rest say why
    sent = decisions[decisions["send"]]
    assert sent["expected_cost"].sum() <= budget
    assert (decisions["reason"] == OVER_BUDGET).any()
    assert 0 < len(sent) < unlimited["send"].sum()
    assert (sent["expected_margin"] > 0).all()
    no_offer = decisions["reason"] == NO_ELIGIBLE_OFFER
    assert decisions.loc[no_offer, "offer_id"].isna().all() and not decisions.loc[no_offer, "send"].any()

    # four shards in four processes decide exactly what one does
    expected = _unsharded(settings, dataset, model_dir, SendLimits(budget_eur=budget))
    got = decisions[list(DECISION_COLUMNS)]
    pd.testing.assert_frame_equal(
        got.drop(columns=["expected_margin", "expected_cost", "p_redeem"]),
        expected.drop(columns=["expected_margin", "expected_cost", "p_redeem"]),
    )
    for column in ("expected_margin", "expected_cost", "p_redeem"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-5, equal_nan=True)
