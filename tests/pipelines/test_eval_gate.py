"""The eval-gate pipeline under kfp.local against one SQLite MLflow store shared by every step (each step has
its own scratch data dir, as pods would): the good 1.1.0 in prompts/ becomes ``production`` through MLflow;
the degraded fixture fails, is not activated, and the gate's MLflow run says why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kfp import local

from loyaltylens.config import get_settings
from loyaltylens.evaluation.gate import GATE_EXPERIMENT, GATE_TAGS
from loyaltylens.generation.registry import PromptRegistry
from loyaltylens.kfp_runner.runner import run_local
from loyaltylens.registry.tracking import registry_client

REPO = Path(__file__).resolve().parents[2]
DEGRADED = REPO / "tests" / "evaluation" / "degraded_offer_copy.yaml"


@pytest.fixture(autouse=True)
def reset_kfp_local():
    yield
    local.config.LocalExecutionConfig.instance = None


@pytest.mark.pipeline_run
def test_gate_promotes_the_good_version_and_refuses_the_degraded_one(tmp_path, monkeypatch):
    prompts = tmp_path / "prompts"
    shutil.copytree(REPO / "prompts", prompts)
    shutil.copy(DEGRADED, prompts / "offer_copy-1.2.0.yaml")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("LOYALTYLENS_PROMPTS_DIR", str(prompts))
    monkeypatch.setenv("LOYALTYLENS_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        settings = get_settings()
        registry = PromptRegistry(prompts, uri)
        assert registry.active("offer_copy").version == "1.0.0"  # no production alias yet: the baseline

        run_local("eval_gate", {"candidate": "1.1.0"}, settings, tmp_path / "good.log")
        assert registry.client.load_prompt("prompts:/offer_copy@production").tags["loyaltylens.semver"] == "1.1.0"

        run_local("eval_gate", {"candidate": "1.2.0"}, settings, tmp_path / "bad.log")
        assert registry.active("offer_copy").version == "1.1.0"  # not activated
    finally:
        get_settings.cache_clear()

    client = registry_client(uri)
    runs = client.search_runs(
        [client.get_experiment_by_name(GATE_EXPERIMENT).experiment_id], order_by=["attributes.start_time ASC"]
    )
    decisions = [(r.data.tags[GATE_TAGS["candidate"]], r.data.tags[GATE_TAGS["decision"]]) for r in runs]
    assert decisions == [("1.1.0", "promoted"), ("1.2.0", "kept-champion")]
    assert "aggregate" in runs[1].data.tags[GATE_TAGS["reasons"]]
    assert runs[1].data.tags[GATE_TAGS["champion"]] == "1.1.0"
    audit = registry.audit_log("offer_copy")
    assert [(e.action, e.version, e.who) for e in audit] == [("activate", "1.1.0", "eval-gate")]
