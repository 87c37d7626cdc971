"""Evaluate propensity predictions or a model directory on a frame, and the registration gate.

Flat metric names used by the gate, MLflow and the model card: ``<split>_<metric>`` for the model being
trained (``test_auc``, ``val_ece``, ...) and ``<other model>_<split>_<metric>`` for everything it is
compared with (``logistic_regression_test_auc``, ``uncalibrated_test_ece``); metric names are those of
:mod:`loyaltylens.propensity.metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from loyaltylens.config import Settings, setting_default
from loyaltylens.errors import DataValidationError
from loyaltylens.features.definitions import LABEL_COLUMN, TREATED_COLUMN, definition
from loyaltylens.groundtruth import true_propensity_vector
from loyaltylens.propensity.baseline import BASELINE_NAMES
from loyaltylens.propensity.frame import label_vector
from loyaltylens.propensity.metrics import classification_metrics, save_reliability_plot, slice_metrics
from loyaltylens.propensity.scoring import score_frame

# Fairness slices reported for every model: the customer groups offers are targeted by.
SLICE_FEATURES: tuple[str, ...] = ("segment", "channel_preference")
PRIMARY_MODEL = "transformer"  # the model whose metrics carry no prefix
GATE_SPLIT = "val"  # the registration gate selects on validation; test is only reported


@dataclass(frozen=True)
class Evaluation:
    """Headline and per-slice metrics (feature name -> one row per category) of one model on one frame."""

    metrics: dict[str, float]
    slices: dict[str, list[dict]]


@dataclass(frozen=True)
class Thresholds:
    """What a candidate must reach on the test split to be registered (defaults: the ``gate_*`` settings)."""

    min_auc: float = field(default_factory=lambda: setting_default("gate_min_auc"))
    max_ece: float = field(default_factory=lambda: setting_default("gate_max_ece"))
    # The transformer may trail the best baseline's test AUC by this much (split-to-split noise).
    baseline_auc_tolerance: float = field(default_factory=lambda: setting_default("gate_max_baseline_auc_gap"))

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(settings.gate_min_auc, settings.gate_max_ece, settings.gate_max_baseline_auc_gap)


def evaluate_predictions(frame: pd.DataFrame, probabilities: np.ndarray) -> Evaluation:
    """Metrics and fairness slices of ``probabilities`` against the labels of ``frame``, and against the
    hidden truth when the evaluation attached it (:func:`loyaltylens.groundtruth.attach_true_propensity`)."""
    labels = label_vector(frame)
    slices = {
        name: slice_metrics(labels, probabilities, frame[name].to_numpy(), definition(name).categories or ())
        for name in SLICE_FEATURES
    }
    return Evaluation(classification_metrics(labels, probabilities, true_propensity_vector(frame)), slices)


def metric_name(metric: str, split: str = "test", model: str = PRIMARY_MODEL) -> str:
    """The flat name of one metric, e.g. ``test_auc`` or ``logistic_regression_test_auc``."""
    return f"{split}_{metric}" if model == PRIMARY_MODEL else f"{model}_{split}_{metric}"


def flat_metrics(evaluations: Mapping[str, Mapping[str, Evaluation]]) -> dict[str, float]:
    """``{model: {split: Evaluation}}`` as one flat dict of :func:`metric_name` keys."""
    return {
        metric_name(key, split, model): value
        for model, by_split in evaluations.items()
        for split, evaluation in by_split.items()
        for key, value in evaluation.metrics.items()
    }


def evaluate_model_dir(model_dir: Path, frame: pd.DataFrame, plot_path: Path | None = None) -> Evaluation:
    """Score the treated rows of ``frame`` with the exported model in ``model_dir`` and evaluate them.

    Args:
        model_dir: a directory written by :func:`loyaltylens.propensity.export.export_model`.
        frame: features and labels; when it has ``treated_in_window``, only rows with an offer sent are used.
        plot_path: where to write a reliability diagram PNG, if wanted.

    Raises:
        DataValidationError: no labels, no treated rows, or a single label class among them.
        InvalidInputError: feature values the model's contract rejects.
    """
    if LABEL_COLUMN not in frame.columns:
        raise DataValidationError(f"evaluation needs a '{LABEL_COLUMN}' column")
    treated = frame[frame[TREATED_COLUMN].astype(bool)] if TREATED_COLUMN in frame.columns else frame
    if treated.empty or treated[LABEL_COLUMN].nunique() < 2:
        raise DataValidationError("evaluation needs treated rows with both label classes")
    probabilities = score_frame(model_dir, treated)
    if plot_path is not None:
        save_reliability_plot(label_vector(treated), {Path(model_dir).name: probabilities}, plot_path)
    return evaluate_predictions(treated, probabilities)


@dataclass(frozen=True)
class ClassificationCurves:
    """ROC points and the confusion matrix at ``threshold`` of one model on one frame (the KFP UI's
    ClassificationMetrics), over the same treated rows as :func:`evaluate_model_dir`."""

    fpr: list[float]
    tpr: list[float]
    thresholds: list[float]
    threshold: float
    confusion: list[list[int]]  # rows = actual [0, 1], columns = predicted [0, 1]


def classification_curves(
    model_dir: Path, frame: pd.DataFrame, threshold: float, max_points: int = 200
) -> ClassificationCurves:
    """Score ``frame``'s treated rows and return the ROC curve (at most ``max_points`` points, ends kept) and
    the confusion matrix at ``threshold`` (the serving threshold, ``settings.propensity_threshold``)."""
    from sklearn.metrics import confusion_matrix, roc_curve

    treated = frame[frame[TREATED_COLUMN].astype(bool)] if TREATED_COLUMN in frame.columns else frame
    labels = label_vector(treated)
    probabilities = score_frame(model_dir, treated)
    fpr, tpr, cuts = roc_curve(labels, probabilities)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).round().astype(int))
    cuts = np.minimum(cuts[keep], 1.0)  # roc_curve's first threshold is +inf
    confusion = confusion_matrix(labels, probabilities >= threshold, labels=[0, 1])
    return ClassificationCurves(
        fpr[keep].tolist(), tpr[keep].tolist(), cuts.tolist(), threshold, confusion.astype(int).tolist()
    )


def passes_thresholds(metrics: Mapping[str, float], thresholds: Thresholds) -> tuple[bool, list[str]]:
    """The registration gate: ``(passed, reasons)``, one reason per failed check (empty when passed).

    Reads the validation period only: ``val_auc`` and ``val_ece`` (required) and any ``<baseline>_val_auc``
    present. Test metrics are reported, never selected on.
    """
    required = (metric_name("auc", GATE_SPLIT), metric_name("ece", GATE_SPLIT))
    reasons = [f"metric '{key}' is missing" for key in required if key not in metrics]
    if reasons:
        return False, reasons
    auc, ece = (metrics[key] for key in required)
    if auc < thresholds.min_auc:
        reasons.append(f"validation AUC {auc:.4f} < required {thresholds.min_auc:.4f}")
    if ece > thresholds.max_ece:
        reasons.append(f"validation ECE {ece:.4f} > allowed {thresholds.max_ece:.4f}")
    for name in BASELINE_NAMES:
        baseline_auc = metrics.get(metric_name("auc", GATE_SPLIT, model=name))
        if baseline_auc is not None and auc < baseline_auc - thresholds.baseline_auc_tolerance:
            reasons.append(
                f"validation AUC {auc:.4f} trails {name} ({baseline_auc:.4f}) by more than "
                f"{thresholds.baseline_auc_tolerance:.4f}"
            )
    return not reasons, reasons
