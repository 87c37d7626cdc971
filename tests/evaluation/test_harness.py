"""The eval harness on the real eval set and the prompts' own template generator: deterministic cases, the
repository's prompts pass their gate, the degraded fixture fails it, the CLI exits 1 on a failed gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loyaltylens.cli import app
from loyaltylens.config import get_settings
from loyaltylens.evaluation.evalset import build_eval_set, eval_set_hash
from loyaltylens.evaluation.harness import EVAL_TAGS, evaluate_prompt, template_generator
from loyaltylens.evaluation.scoring import rubric_judge
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.prompts import read_prompt_file
from loyaltylens.registry.tracking import registry_client

REPO = Path(__file__).resolve().parents[2]
DEGRADED = Path(__file__).with_name("degraded_offer_copy.yaml")


@pytest.fixture(scope="module")
def cases():
    return build_eval_set()


def test_eval_set_is_versioned_deterministic_and_large_enough(cases):
    assert len(cases) >= 50
    assert eval_set_hash(build_eval_set()) == eval_set_hash(cases)
    assert len({case.case_id for case in cases}) == len(cases)
    assert all(f"{case.offer.discount_pct:g}%" in case.reference for case in cases)


def test_good_prompts_pass_and_the_degraded_one_fails(cases):
    for path in sorted((REPO / "prompts").glob("*.yaml")):
        prompt = read_prompt_file(path)
        result = evaluate_prompt(prompt, template_generator(prompt), "template", cases)
        assert result.passed, (prompt.ref, result.reasons)
        assert result.means["valid_json"] == 1.0 and result.means["guardrails"] == 1.0
    degraded = read_prompt_file(DEGRADED)
    result = evaluate_prompt(degraded, template_generator(degraded), "template", cases)
    assert not result.passed and "aggregate" in result.reasons[0]
    assert result.means["faithfulness"] == 0.0  # it invents a discount on every case


def test_invalid_json_scores_zero_but_is_still_compared_to_the_reference(cases):
    from loyaltylens.evaluation.scoring import score_case

    scores = score_case(cases[0], "not json at all", ["faithfulness"], rubric_judge)
    assert scores["valid_json"] == scores["guardrails"] == scores["judge"] == 0.0
    assert 0.0 <= scores["bleu"] <= 1.0


def test_rubric_judge_checks_each_criterion(cases):
    case = cases[0]
    good = OfferCopy(headline=f"{case.offer.discount_pct:g}% off", body=f"{case.offer.category} deal for you today.",
                     cta="Shop online now", tone={"budget": "friendly", "premium": "refined", "family": "warm",
                                                   "horeca": "professional"}[case.segment])  # fmt: skip
    assert rubric_judge(case, good, ["faithfulness", "cta_present"]) == 1.0
    bad_cta = good.model_copy(update={"cta": "Details inside"})
    assert rubric_judge(case, bad_cta, ["cta_present"]) == 0.0
    assert rubric_judge(case, good, ["made_up_criterion"]) == 0.0


def test_cli_logs_to_mlflow_writes_json_html_and_exits_1_on_a_failed_gate(tmp_path, monkeypatch):
    prompts = tmp_path / "prompts"
    shutil.copytree(REPO / "prompts", prompts)
    shutil.copy(DEGRADED, prompts / "offer_copy-1.2.0.yaml")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("LOYALTYLENS_PROMPTS_DIR", str(prompts))
    monkeypatch.setenv("LOYALTYLENS_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        good = runner.invoke(app, ["eval", "run", "--prompt", "1.1.0", "--out", str(tmp_path / "good")])
        assert good.exit_code == 0, good.output
        bad = runner.invoke(app, ["eval", "run", "--prompt", "1.2.0", "--out", str(tmp_path / "bad")])
        assert bad.exit_code == 1 and "FAILED" in bad.output
    finally:
        get_settings.cache_clear()
    report = json.loads((tmp_path / "bad" / "eval.json").read_text())
    assert report["passed"] is False and len(report["cases"]) >= 50
    assert "<table" in (tmp_path / "bad" / "eval.html").read_text()
    client = registry_client(uri)
    runs = client.search_runs([client.get_experiment_by_name("loyaltylens-eval").experiment_id])
    assert {run.data.tags[EVAL_TAGS["passed"]] for run in runs} == {"true", "false"}
    assert {run.data.tags[EVAL_TAGS["prompt"]] for run in runs} == {"offer_copy@1.1.0", "offer_copy@1.2.0"}


def test_clip_brand_fit_is_scored_on_the_rendered_offer_image(cases):
    """Through brand.py's real open_clip path on a tiny randomly initialised CLIP (no real weights offline):
    the metric is computed and bounded; its values mean nothing about the brand."""
    from benchmarks.eval import tiny_random_clip

    prompt = read_prompt_file(REPO / "prompts" / "offer_copy.yaml")
    result = evaluate_prompt(prompt, template_generator(prompt), "template", cases[:4], brand_scorer=tiny_random_clip())
    assert all(0.0 <= row["brand"] <= 1.0 for row in result.cases)
    assert "brand" in result.means
