"""The eval-gate pipeline's generator branch under kfp.local, each step with its own scratch data dir (as pods
would) and one SQLite MLflow store: a planted-bad challenger (one optimiser step) is refused and the gate run says
why; a trained one replaces the champion through an audited alias move."""

from __future__ import annotations

import pytest
from kfp import local

from loyaltylens.evaluation.gate import GATE_EXPERIMENT, GATE_TAGS
from loyaltylens.generation.model_store import generator_registry
from loyaltylens.kfp_runner.runner import run_local
from loyaltylens.registry.audit import audit_log
from tests.evaluation.test_generator_gate import _register, settings, trained  # noqa: F401 (fixtures)

GATE_ARGUMENTS = {"candidate": "", "generator_challenger": "challenger"}


@pytest.fixture(autouse=True)
def reset_kfp_local():
    yield
    local.config.LocalExecutionConfig.instance = None


@pytest.mark.pipeline_run
def test_pipeline_refuses_a_bad_generator_and_promotes_a_trained_one(settings, trained, tmp_path):  # noqa: F811
    registry = generator_registry(settings)
    assert _register(settings, trained, "good") == 1
    registry.promote(1)

    assert _register(settings, trained, "bad") == 2
    refused = run_local("eval_gate", GATE_ARGUMENTS, settings, tmp_path / "bad.log")
    assert "keep-generator-champion" in refused.task_status
    assert registry.resolve("champion") == 1 and registry.resolve("challenger") == 2

    assert _register(settings, trained, "good") == 3
    promoted = run_local("eval_gate", GATE_ARGUMENTS, settings, tmp_path / "good.log")
    assert "promote-generator-challenger" in promoted.task_status
    assert registry.resolve("champion") == 3
    moves = audit_log(registry.client, registry.tracking_uri, "model", registry.model_name)
    assert [(m.previous, m.version, m.who) for m in moves] == [("1", "3", "eval-gate")]

    runs = registry.client.search_runs(
        [registry.client.get_experiment_by_name(GATE_EXPERIMENT).experiment_id], order_by=["attributes.start_time ASC"]
    )
    decisions = [(r.data.tags[GATE_TAGS["candidate"]], r.data.tags[GATE_TAGS["decision"]]) for r in runs]
    assert decisions == [("2", "kept-champion"), ("3", "promoted")]
    assert "significantly below the champion" in runs[0].data.tags[GATE_TAGS["reasons"]]
    assert runs[1].data.tags[GATE_TAGS["champion"]] == "1" and runs[1].data.tags[GATE_TAGS["champion_eval_run"]]
