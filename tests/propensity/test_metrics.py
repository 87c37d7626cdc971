"""Metric definitions on inputs whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loyaltylens.propensity.metrics import (
    classification_metrics,
    expected_auc,
    expected_calibration_error,
    save_reliability_plot,
    slice_metrics,
    top_fraction_lift,
)
from loyaltylens.vocabulary import SEGMENTS


@pytest.fixture
def calibrated() -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from the scores themselves: perfectly calibrated up to sampling noise."""
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 200_000)
    return (rng.random(len(scores)) < scores).astype(float), scores


def test_ece_is_near_zero_when_calibrated_and_equals_a_constant_offset(calibrated) -> None:
    labels, scores = calibrated

    assert expected_calibration_error(labels, scores) < 0.005
    # Shifting scores by 0.05 (staying inside each bin's range on average) adds ~0.05 of miscalibration.
    assert expected_calibration_error(labels, np.clip(scores - 0.05, 0, 1)) == pytest.approx(0.05, abs=0.01)


def test_ece_uses_15_equal_width_bins_and_puts_1_0_in_the_last_bin() -> None:
    # 0.99 and 1.0 share the last bin [14/15, 1]: mean score 0.995 against a positive rate of 0.5.
    labels = np.array([1.0, 0.0])
    scores = np.array([1.0, 0.99])
    assert expected_calibration_error(labels, scores) == pytest.approx(abs(0.995 - 0.5))


def test_top_decile_lift_and_capture() -> None:
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 10, dtype=float)
    perfect = labels + np.linspace(0, 0.1, len(labels))  # every positive above every negative

    lift, capture = top_fraction_lift(labels, perfect)

    assert lift == pytest.approx(5.0)  # top 10 % all positive vs 20 % overall
    assert capture == pytest.approx(0.5)  # 10 of the 20 positives


def test_truth_agreement_of_the_truth_itself(calibrated) -> None:
    labels, scores = calibrated

    metrics = classification_metrics(labels, scores, true_propensity=scores)

    assert metrics["truth_spearman"] == pytest.approx(1.0)
    assert metrics["truth_auc"] == pytest.approx(metrics["oracle_truth_auc"])
    assert metrics["oracle_auc"] == pytest.approx(metrics["auc"])
    assert metrics["truth_mae"] == 0.0
    # Uniform true p: positives have density 2p, negatives 2(1-p), so P(pos > neg) = 5/6.
    assert metrics["oracle_truth_auc"] == pytest.approx(5 / 6, abs=0.005)
    assert metrics["auc"] == pytest.approx(5 / 6, abs=0.005)


def test_expected_auc_of_random_scores_is_one_half(calibrated) -> None:
    _, truth = calibrated
    noise = np.random.default_rng(1).random(len(truth))
    assert expected_auc(truth, noise) == pytest.approx(0.5, abs=0.005)


def test_slices_cover_every_category_even_empty_ones() -> None:
    labels = np.array([0, 1, 0, 1, 1, 1], dtype=float)
    scores = np.array([0.1, 0.9, 0.2, 0.8, 0.7, 0.6])
    codes = np.array([0, 0, 1, 1, 2, 2])  # no "horeca" rows, and "family" (2) holds positives only

    slices = slice_metrics(labels, scores, codes, SEGMENTS)

    assert [s["slice"] for s in slices] == list(SEGMENTS)
    assert slices[0]["auc"] == 1.0 and slices[0]["rows"] == 2
    assert slices[2]["auc"] is None  # a single label class
    assert slices[3] == {
        "slice": "horeca",
        "rows": 0,
        "positive_rate": None,
        "mean_score": None,
        "auc": None,
        "ece": None,
    }


def test_reliability_plot_is_a_png(calibrated, tmp_path: Path) -> None:
    labels, scores = calibrated

    path = save_reliability_plot(
        labels, {"model": scores, "shifted": np.clip(scores - 0.1, 0, 1)}, tmp_path / "r.png"
    )

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
