"""Metrics for redemption probabilities: ranking, calibration, business lift, agreement with the hidden
truth, and per-slice fairness.

Definitions used throughout (all on treated rows, where the label is meaningful):
  - ``auc`` / ``pr_auc``: ROC AUC and average precision (scikit-learn).
  - ``log_loss`` / ``brier``: proper scoring rules of the probabilities themselves.
  - ``ece``: expected calibration error with 15 *equal-width* bins over [0, 1]:
    ``sum_b (n_b / N) * |mean(p in b) - mean(y in b)|``; empty bins contribute nothing. Equal-width
    (not equal-mass) bins so the number reads the same as the reliability plot.
  - ``top_decile_lift``: positive rate among the 10 % highest scores divided by the overall positive rate;
    ``top_decile_capture``: share of all positives found in that top 10 %.
  - Agreement with the hidden ``true_propensity`` (synthetic data only):
      ``truth_spearman``: rank correlation of score and true probability;
      ``truth_auc``: the *expected* AUC if labels were drawn from the true probabilities, computed by
      counting every row once as a positive with weight p_true and once as a negative with weight
      1 - p_true. It removes the label noise of one finite draw;
      ``oracle_truth_auc``: the same for the true probability itself, i.e. the best any model can reach;
      ``oracle_auc``: the true probability's AUC on the realised labels, the ceiling for ``auc``;
      ``truth_mae``: mean absolute gap between score and true probability (label-free calibration).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

ECE_BINS = 15
TOP_FRACTION = 0.10
# Probabilities are clipped before log-loss so a single 0/1 score cannot make it infinite.
_EPS = 1e-7


def expected_calibration_error(
    labels: np.ndarray, probabilities: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """ECE with ``n_bins`` equal-width bins over [0, 1], weighted by bin size (see module docstring)."""
    labels, probabilities = _as_arrays(labels, probabilities)
    counts, mean_score, positive_rate = _bin_statistics(labels, probabilities, n_bins)
    filled = counts > 0
    return float(np.sum(counts[filled] * np.abs(mean_score[filled] - positive_rate[filled])) / counts.sum())


def reliability_curve(
    labels: np.ndarray, probabilities: np.ndarray, n_bins: int = ECE_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean score, observed positive rate and row count of each non-empty equal-width bin."""
    labels, probabilities = _as_arrays(labels, probabilities)
    counts, mean_score, positive_rate = _bin_statistics(labels, probabilities, n_bins)
    filled = counts > 0
    return mean_score[filled], positive_rate[filled], counts[filled]


def top_fraction_lift(
    labels: np.ndarray, probabilities: np.ndarray, fraction: float = TOP_FRACTION
) -> tuple[float, float]:
    """``(lift, capture)`` of the ``fraction`` highest-scored rows (ties broken by row order)."""
    labels, probabilities = _as_arrays(labels, probabilities)
    n_top = max(1, int(round(fraction * len(labels))))
    top = np.argsort(-probabilities, kind="stable")[:n_top]
    top_positives = labels[top].sum()
    lift = (top_positives / n_top) / labels.mean()
    capture = top_positives / labels.sum()
    return float(lift), float(capture)


def expected_auc(true_propensity: np.ndarray, scores: np.ndarray) -> float:
    """AUC of ``scores`` in expectation over labels drawn from ``true_propensity`` (see module docstring)."""
    true_propensity = np.asarray(true_propensity, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    return float(
        roc_auc_score(
            np.r_[np.ones(n), np.zeros(n)],
            np.r_[scores, scores],
            sample_weight=np.r_[true_propensity, 1.0 - true_propensity],
        )
    )


def truth_agreement(
    labels: np.ndarray, probabilities: np.ndarray, true_propensity: np.ndarray
) -> dict[str, float]:
    """How well ``probabilities`` recover the hidden true redemption probabilities (module docstring)."""
    labels, probabilities = _as_arrays(labels, probabilities)
    true_propensity = np.asarray(true_propensity, dtype=np.float64)
    return {
        "truth_spearman": float(spearmanr(probabilities, true_propensity).statistic),
        "truth_auc": expected_auc(true_propensity, probabilities),
        "oracle_truth_auc": expected_auc(true_propensity, true_propensity),
        "oracle_auc": float(roc_auc_score(labels, true_propensity)),
        "truth_mae": float(np.mean(np.abs(probabilities - true_propensity))),
    }


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, true_propensity: np.ndarray | None = None
) -> dict[str, float]:
    """All headline metrics of one model on one split; truth agreement only when the truth is given."""
    labels, probabilities = _as_arrays(labels, probabilities)
    lift, capture = top_fraction_lift(labels, probabilities)
    metrics = {
        "rows": float(len(labels)),
        "positive_rate": float(labels.mean()),
        "mean_score": float(probabilities.mean()),
        "auc": float(roc_auc_score(labels, probabilities)),
        "pr_auc": float(average_precision_score(labels, probabilities)),
        "log_loss": float(log_loss(labels, np.clip(probabilities, _EPS, 1 - _EPS), labels=[0, 1])),
        "brier": float(brier_score_loss(labels, probabilities)),
        "ece": expected_calibration_error(labels, probabilities),
        "top_decile_lift": lift,
        "top_decile_capture": capture,
    }
    if true_propensity is not None:
        metrics.update(truth_agreement(labels, probabilities, true_propensity))
    return metrics


def slice_metrics(
    labels: np.ndarray, probabilities: np.ndarray, codes: np.ndarray, categories: tuple[str, ...]
) -> list[dict]:
    """Rows, positive rate, mean score, AUC and ECE of every category of one categorical feature.

    Every category appears, even an empty one (rows 0), so a missing group is visible in the model
    card; AUC is ``None`` where a slice holds a single label class.
    """
    labels, probabilities = _as_arrays(labels, probabilities)
    codes = np.asarray(codes).astype(np.int64)
    slices = []
    for code, category in enumerate(categories):
        member = codes == code
        y, p = labels[member], probabilities[member]
        both_classes = 0 < y.sum() < len(y)
        slices.append(
            {
                "slice": category,
                "rows": int(member.sum()),
                "positive_rate": float(y.mean()) if len(y) else None,
                "mean_score": float(p.mean()) if len(y) else None,
                "auc": float(roc_auc_score(y, p)) if both_classes else None,
                "ece": expected_calibration_error(y, p) if len(y) else None,
            }
        )
    return slices


def save_reliability_plot(
    labels: np.ndarray, curves: Mapping[str, np.ndarray], path: Path, title: str = "Reliability (test)"
) -> Path:
    """Write a reliability diagram PNG: one line per named probability vector, plus the diagonal."""
    import matplotlib  # imported here: only plotting needs it, and it is slow to import

    matplotlib.use("Agg")  # headless: training runs in containers and CI
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax_curve, ax_hist) = plt.subplots(
        2, 1, figsize=(6, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax_curve.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for name, probabilities in curves.items():
        mean_score, positive_rate, _ = reliability_curve(labels, probabilities)
        ece = expected_calibration_error(labels, probabilities)
        ax_curve.plot(mean_score, positive_rate, marker="o", label=f"{name} (ECE {ece:.3f})")
        ax_hist.hist(probabilities, bins=ECE_BINS, range=(0, 1), histtype="step", label=name)
    ax_curve.set_ylabel("observed redemption rate")
    ax_curve.set_title(title)
    ax_curve.legend(loc="upper left", fontsize="small")
    ax_hist.set_xlabel(f"predicted probability ({ECE_BINS} equal-width bins)")
    ax_hist.set_ylabel("rows")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _as_arrays(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(labels, dtype=np.float64).ravel(), np.asarray(probabilities, dtype=np.float64).ravel()


def _bin_statistics(
    labels: np.ndarray, probabilities: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin: row count, mean score and positive rate (0 where the bin is empty)."""
    # A score of exactly 1.0 belongs to the last bin, not to a bin of its own.
    bins = np.minimum((probabilities * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins).astype(np.float64)
    safe = np.maximum(counts, 1.0)
    mean_score = np.bincount(bins, weights=probabilities, minlength=n_bins) / safe
    positive_rate = np.bincount(bins, weights=labels, minlength=n_bins) / safe
    return counts, mean_score, positive_rate
