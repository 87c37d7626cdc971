"""The generator gate on real registered generator versions and the real eval set: a trained challenger with no
champion becomes the first one, a second trained one replaces it through an audited alias move, and a planted-bad
one (one optimiser step: its copy is not even JSON) is refused, the champion stays and the gate run says why."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loyaltylens.cli import app
from loyaltylens.config import get_settings
from loyaltylens.evaluation.evalset import build_eval_set
from loyaltylens.evaluation.gate import GATE_EXPERIMENT, GATE_TAGS
from loyaltylens.evaluation.generator_gate import GATE_KIND, compare_generator_results, gate_generator_challenger
from loyaltylens.evaluation.harness import evaluate_prompt, template_generator
from loyaltylens.generation.corpus import synthetic_offers
from loyaltylens.generation.model_store import generator_registry, register_generator
from loyaltylens.generation.prompts import load_prompt, read_prompt_file
from loyaltylens.generation.training import TEST_CONFIG, train_generator
from loyaltylens.registry.audit import audit_log

REPO = Path(__file__).resolve().parents[2]
PROMPTS = REPO / "prompts"
DEGRADED = Path(__file__).with_name("degraded_offer_copy.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two generator model directories: trained at test size, and one optimiser step (planted bad)."""
    catalogue, prompt = synthetic_offers(30, seed=3), load_prompt(PROMPTS, "offer_copy")
    root = tmp_path_factory.mktemp("generators")
    good = train_generator(catalogue, prompt, root / "good", TEST_CONFIG)
    bad = train_generator(catalogue, prompt, root / "bad", dataclasses.replace(TEST_CONFIG, steps=1))
    return {"good": (root / "good", good), "bad": (root / "bad", bad)}


# A test-size generator (TEST_CONFIG, 200 steps) is not production quality: measured on the eval set, aggregate
# 0.70 (guardrails 0.50) against the production prompt's (offer_copy 1.0.0) threshold of 0.75. The gate runs
# under a copy of the prompts with that threshold lowered; the champion comparison is the production one.
TEST_SIZE_THRESHOLD = ("    aggregate: 0.75\n", "    aggregate: 0.6\n")


@pytest.fixture
def settings(isolated_settings, monkeypatch, tmp_path):
    prompts = shutil.copytree(PROMPTS, tmp_path / "prompts")
    production = prompts / "offer_copy.yaml"  # the lowest version: production while no alias is set
    text = production.read_text()
    assert TEST_SIZE_THRESHOLD[0] in text
    production.write_text(text.replace(*TEST_SIZE_THRESHOLD))
    monkeypatch.setenv("LOYALTYLENS_PROMPTS_DIR", str(prompts))
    get_settings.cache_clear()
    return get_settings()


def _register(settings, trained, which: str) -> int:
    model_dir, report = trained[which]
    return register_generator(generator_registry(settings), model_dir, report, {"which": which}, {})[1]


def _decision(settings, run_id: str) -> dict[str, str]:
    tags = generator_registry(settings).client.get_run(run_id).data.tags
    return {key: tags[tag] for key, tag in GATE_TAGS.items()}


def test_gate_promotes_a_trained_challenger_and_refuses_a_planted_bad_one(settings, trained):
    registry = generator_registry(settings)

    assert _register(settings, trained, "good") == 1
    decision, run_id = gate_generator_challenger(settings)  # no champion yet: the thresholds alone decide
    assert decision.promote, decision.reasons
    assert registry.resolve("champion") == 1
    first = _decision(settings, run_id)
    assert first["kind"] == GATE_KIND and first["decision"] == "promoted" and first["champion"] == ""

    assert _register(settings, trained, "good") == 2
    decision, run_id = gate_generator_challenger(settings)
    assert decision.promote, decision.reasons
    assert registry.resolve("champion") == 2
    second = _decision(settings, run_id)
    assert second["reasons"] == ""
    # the same weights sampled from the same seeds: the paired difference is exactly zero (a reproducible gate)
    assert registry.client.get_run(run_id).data.metrics["aggregate_difference"] == 0.0
    assert (second["candidate"], second["champion"]) == ("2", "1")
    assert second["candidate_eval_run"] and second["champion_eval_run"]  # both versions were evaluated
    moves = audit_log(registry.client, registry.tracking_uri, "model", registry.model_name)
    assert [(m.alias, m.previous, m.version, m.who) for m in moves] == [
        ("champion", None, "1", "eval-gate"),
        ("champion", "1", "2", "eval-gate"),
    ]
    assert "eval aggregate v2" in moves[1].why and "vs v1" in moves[1].why

    assert _register(settings, trained, "bad") == 3
    result = CliRunner().invoke(app, ["eval", "gate-generator"])  # the CLI path: refused is exit 1, one line why
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("generator challenger: refused: aggregate 0.")  # MLflow's bars: stderr
    run_id = result.stdout.rsplit("(gate run ", 1)[1].split(")")[0]
    assert registry.resolve("champion") == 2 and registry.resolve("challenger") == 3  # kept
    refused = _decision(settings, run_id)
    assert (refused["decision"], refused["candidate"], refused["champion"]) == ("kept-champion", "3", "2")
    assert refused["reasons"].startswith("aggregate 0.") and "significantly below the champion" in refused["reasons"]
    assert len(audit_log(registry.client, registry.tracking_uri, "model", registry.model_name)) == 2  # no move
    runs = registry.client.search_runs(
        [registry.client.get_experiment_by_name(GATE_EXPERIMENT).experiment_id],
        filter_string=f"tags.`{GATE_TAGS['kind']}` = '{GATE_KIND}'",
    )
    assert len(runs) == 3


def test_a_challenger_within_the_allowed_drop_passes_and_a_clear_loss_does_not():
    """The champion comparison on its own: the template generator under the good prompt vs the degraded one
    (which invents a discount on every case), paired on the same eval cases."""
    cases = build_eval_set()[:20]
    good_prompt, degraded_prompt = read_prompt_file(PROMPTS / "offer_copy.yaml"), read_prompt_file(DEGRADED)
    good = evaluate_prompt(good_prompt, template_generator(good_prompt), "good", cases)
    degraded = evaluate_prompt(good_prompt, template_generator(degraded_prompt), "degraded", cases)

    decision, metrics = compare_generator_results(good, good, max_drop=0.0)
    assert decision.promote and metrics["aggregate_difference"] == 0.0
    decision, metrics = compare_generator_results(degraded, good, max_drop=0.0)
    assert not decision.promote and metrics["aggregate_difference_high"] < 0.0
    assert any("significantly below the champion" in reason for reason in decision.reasons)
    # a tolerance larger than the loss lets it through the comparison (the thresholds still apply)
    decision, _ = compare_generator_results(degraded, good, max_drop=1.0)
    assert not any("champion" in reason for reason in decision.reasons)
