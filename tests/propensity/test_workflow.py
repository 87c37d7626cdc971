"""The candidate directory, its model card, the registration gate, and failure without side effects."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from loyaltylens.errors import DataValidationError
from loyaltylens.propensity.evaluate import Thresholds, evaluate_model_dir, passes_thresholds
from loyaltylens.propensity.export import load_model_dir
from loyaltylens.propensity.model_card import ModelCard
from loyaltylens.propensity.registry import ModelRegistry
from loyaltylens.propensity.rolling import ROLLING_EVALUATION_RUN
from loyaltylens.propensity.workflow import log_candidate, register_gated_candidate, train_and_register
from loyaltylens.vocabulary import CHANNELS, SEGMENTS


def test_candidate_directory_is_a_complete_model_dir(candidate) -> None:
    names = {path.name for path in candidate.model_dir.iterdir()}
    assert names == {"model.pt", "feature_contract.json", "metrics.json", "model_card.json", "model_card.md"}
    _, contract = load_model_dir(candidate.model_dir)
    assert contract.feature_version == "v-test"
    assert json.loads((candidate.model_dir / "metrics.json").read_text()) == pytest.approx(candidate.metrics)


def test_model_card_has_slices_for_every_segment_and_channel(candidate) -> None:
    card = ModelCard.load(candidate.model_dir)

    assert [s["slice"] for s in card.slices["segment"]] == list(SEGMENTS)
    assert [s["slice"] for s in card.slices["channel_preference"]] == list(CHANNELS)
    assert all(s["rows"] > 0 and s["auc"] is not None for slices in card.slices.values() for s in slices)
    markdown = (candidate.model_dir / "model_card.md").read_text()
    assert "### By segment" in markdown and "### By channel_preference" in markdown
    for name in (*SEGMENTS, *CHANNELS):
        assert f"| {name} |" in markdown
    assert set(card.metrics) == {
        "transformer",
        "uncalibrated",
        "logistic_regression",
        "lightgbm",
    }
    assert card.data["test"]["rows"] > 0 and card.lineage["dataset_hash"] == "d" * 12
    assert card.calibration["temperature"] > 0


def test_evaluate_model_dir_matches_the_candidate_metrics(candidate, trained, tmp_path) -> None:
    evaluation = evaluate_model_dir(candidate.model_dir, trained.split.test, plot_path=tmp_path / "r.png")

    assert evaluation.metrics["auc"] == pytest.approx(candidate.metrics["test_auc"], abs=1e-6)
    assert evaluation.metrics["ece"] == pytest.approx(candidate.metrics["test_ece"], abs=1e-6)
    assert (tmp_path / "r.png").is_file()


@pytest.mark.parametrize(
    ("metrics", "reasons"),
    [
        ({"val_auc": 0.85, "val_ece": 0.02, "logistic_regression_val_auc": 0.855}, []),
        ({"val_auc": 0.60, "val_ece": 0.02, "test_auc": 0.95}, ["validation AUC 0.6000 < required 0.6500"]),
        ({"val_auc": 0.85, "val_ece": 0.05, "test_ece": 0.0}, ["validation ECE 0.0500 > allowed 0.0300"]),
        (
            {"val_auc": 0.85, "val_ece": 0.02, "lightgbm_val_auc": 0.87, "lightgbm_test_auc": 0.5},
            ["validation AUC 0.8500 trails lightgbm (0.8700) by more than 0.0100"],
        ),
        ({"val_ece": 0.02, "test_auc": 0.9}, ["metric 'val_auc' is missing"]),
    ],
)
def test_registration_gate(metrics: dict, reasons: list[str]) -> None:
    assert passes_thresholds(metrics, Thresholds()) == (not reasons, reasons)


def test_bad_input_fails_clearly_and_leaves_the_registry_unchanged(
    registry: ModelRegistry, candidate, frame: pd.DataFrame, fast_config
) -> None:
    run_id = registry.log_training_run(
        params={}, epoch_metrics=[], metrics={}, model_dir=candidate.model_dir, lineage={}
    )
    registry.register(candidate.model_dir, run_id, candidate.metrics)
    before = registry.list_versions()
    runs_before = _run_count(registry)

    bad_frames = {
        "empty": (frame.iloc[0:0], "empty"),
        "missing column": (frame.drop(columns=["segment"]), "missing column"),
        "single class": (frame.assign(label=1), "single class"),
    }
    for bad, message in bad_frames.values():
        with pytest.raises(DataValidationError, match=message):
            train_and_register(bad, registry, config=fast_config)

    assert registry.list_versions() == before
    assert _run_count(registry) == runs_before


def test_a_candidate_failing_the_gate_is_logged_but_not_registered(
    registry: ModelRegistry, frame, fast_config
) -> None:
    outcome = train_and_register(
        frame, registry, {"feature_version": "v-test"}, fast_config, Thresholds(min_auc=0.99)
    )

    assert not outcome.passed_gate and outcome.version is None
    assert outcome.gate_reasons and "< required 0.9900" in outcome.gate_reasons[0]
    assert registry.list_versions() == []
    assert registry.client.get_run(outcome.run_id).data.tags["loyaltylens.feature_version"] == "v-test"


def _run_count(registry: ModelRegistry) -> int:
    experiment = registry.client.get_experiment_by_name(registry.model_name)
    return len(registry.client.search_runs([experiment.experiment_id])) if experiment else 0


def test_registration_cites_the_newest_rolling_origin_backtest_in_the_card(registry: ModelRegistry, candidate) -> None:
    run_id = log_candidate(registry, candidate)
    first = register_gated_candidate(registry, candidate.model_dir, None, run_id, {"test_ndcg_at_10": 0.9})
    assert registry.model_card(first).recipe_backtest == {}  # no backtest logged yet: the card says nothing

    for auc in (0.71, 0.74):  # the newer of two backtests is the one cited
        backtest = registry.log_evaluation_run(
            run_name=ROLLING_EVALUATION_RUN,
            params={"feature_version": "v0007", "origins": 3},
            metrics={"rolling_tabtransformer_auc": auc},
            report="# Rolling-origin evaluation\n",
        )
    second = register_gated_candidate(registry, candidate.model_dir, None, run_id, {"test_ndcg_at_10": 0.9})
    card = registry.model_card(second)
    assert card.recipe_backtest["mlflow_run_id"] == backtest
    assert card.recipe_backtest["rolling_tabtransformer_auc"] == 0.74 and card.recipe_backtest["origins"] == "3"
    assert card.truth_evaluation == {"test_ndcg_at_10": 0.9}  # measured only by the evaluation step
    assert "## Rolling-origin backtest of the training recipe" in card.to_markdown()
