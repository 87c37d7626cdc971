"""The propensity stage end to end: train -> baselines -> evaluate -> export -> log -> gate -> register.

:func:`build_candidate` turns a trained model into an exported, evaluated model directory (no MLflow);
:func:`train_and_register` trains on a frame and records the result in the registry;
:func:`train_from_feature_store` does that for a feature-store version.
The pipeline's steps split the same work across pods: :func:`evaluate_candidate` re-measures the exported
artifact and applies the gate, :func:`register_gated_candidate` registers what passed, and
:func:`record_rejection` says why a candidate did not.
The CLI and the pipeline components are thin layers over these functions.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import DataValidationError
from loyaltylens.features.definitions import ENTITY_COLUMN, OFFER_COLUMN
from loyaltylens.features.store import FeatureStore
from loyaltylens.groundtruth import TRUE_PROPENSITY_COLUMN
from loyaltylens.propensity.baseline import train_baselines
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.evaluate import (
    GATE_SPLIT,
    PRIMARY_MODEL,
    Evaluation,
    Thresholds,
    evaluate_model_dir,
    evaluate_predictions,
    flat_metrics,
    metric_name,
    passes_thresholds,
)
from loyaltylens.propensity.export import export_model
from loyaltylens.propensity.frame import feature_matrix, label_vector
from loyaltylens.propensity.metrics import save_reliability_plot
from loyaltylens.propensity.model_card import ModelCard
from loyaltylens.propensity.registry import ModelRegistry
from loyaltylens.propensity.rolling import ROLLING_EVALUATION_RUN, FoldScores, origin_dates, train_origin
from loyaltylens.propensity.scoring import predict_in_chunks, score_frame
from loyaltylens.propensity.train import EpochMetrics, TrainConfig, TrainResult, train_propensity
from loyaltylens.propensity.truth_evaluation import offer_truth_metrics
from loyaltylens.propensity.uncertainty import bootstrap_auc, ece_noise_floor

METRICS_FILENAME = "metrics.json"
MODEL_SUBDIR = "model"
PLOTS_SUBDIR = "plots"
RELIABILITY_PLOT = "reliability_test.png"
UNCALIBRATED = "uncalibrated"  # the transformer before temperature scaling, to show what calibration did
PARITY_ROWS = 1000  # rows the TorchScript export is checked against the eager model on
EVALUATED_SPLITS = ("val", "test")


@dataclass
class Candidate:
    """A trained model exported to ``model_dir`` with everything needed to log, gate and register it."""

    model_dir: Path  # model.pt, feature_contract.json, metrics.json, model_card.{json,md}
    metrics: dict[str, float]  # flat names, see loyaltylens.propensity.evaluate
    params: dict[str, object]
    epoch_metrics: list[dict[str, float]]
    lineage: dict[str, str]
    card: ModelCard
    plots: list[Path]


@dataclass(frozen=True)
class TrainingOutcome:
    """What :func:`train_and_register` did: the run it logged and, if the gate passed, the new version."""

    run_id: str
    version: int | None  # None when the candidate failed the gate and was not registered
    passed_gate: bool
    gate_reasons: list[str]
    metrics: dict[str, float]


def build_candidate(
    result: TrainResult, out_dir: Path, model_name: str, lineage: Mapping[str, str] | None = None
) -> Candidate:
    """Evaluate a trained model against baselines on the same split and export it to ``out_dir/model``.

    ``lineage`` (feature_version, dataset_hash, schema_hash, ...) goes into the model card, the
    feature contract (``feature_version``) and later the MLflow run. Plots go to ``out_dir/plots``.
    """
    lineage = {key: str(value) for key, value in (lineage or {}).items()}
    parts = {split: result.split.parts()[split] for split in EVALUATED_SPLITS}
    scores = _score_splits(result, parts)
    evaluations = {
        model: {split: evaluate_predictions(parts[split], p) for split, p in by_split.items()}
        for model, by_split in scores.items()
    }
    metrics = flat_metrics(evaluations)
    uncertainty = measure_uncertainty(parts, scores)
    metrics.update(uncertainty)

    model_dir = Path(out_dir) / MODEL_SUBDIR
    contract = dataclasses.replace(result.contract, feature_version=lineage.get("feature_version"))
    parity_rows = torch.from_numpy(feature_matrix(parts["test"].iloc[:PARITY_ROWS], result.contract.names))
    export_model(result.model, contract, model_dir, parity_rows=parity_rows)
    (model_dir / METRICS_FILENAME).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    plot = save_reliability_plot(
        label_vector(parts["test"]),
        {model: by_split["test"] for model, by_split in scores.items()},
        Path(out_dir) / PLOTS_SUBDIR / RELIABILITY_PLOT,
    )
    params = result.params()
    card = _model_card(model_name, result, evaluations, lineage, params, uncertainty)
    card.save(model_dir)
    return Candidate(
        model_dir=model_dir,
        metrics=metrics,
        params=params,
        epoch_metrics=[_epoch_row(epoch) for epoch in result.history],
        lineage=lineage,
        card=card,
        plots=[plot],
    )


def log_candidate(registry: ModelRegistry, candidate: Candidate) -> str:
    """Record ``candidate`` as one MLflow run (params, per-epoch and final metrics, model dir, plots, lineage)."""
    return registry.log_training_run(
        params=candidate.params,
        epoch_metrics=candidate.epoch_metrics,
        metrics=candidate.metrics,
        model_dir=candidate.model_dir,
        lineage=candidate.lineage,
        plots=candidate.plots,
    )


def train_and_register(
    frame: pd.DataFrame,
    registry: ModelRegistry,
    lineage: Mapping[str, str] | None = None,
    config: TrainConfig | None = None,
    thresholds: Thresholds | None = None,
    force: bool = False,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> TrainingOutcome:
    """Train on ``frame``, log the run, and register the model as ``challenger`` if it passes ``thresholds``.

    A candidate that fails the gate (default :class:`Thresholds`) is still logged, so its run shows why,
    but not registered unless ``force``. Invalid input fails before the registry is touched.

    Raises:
        DataValidationError: the frame cannot be trained on.
    """
    result = train_propensity(frame, config or TrainConfig(), on_epoch)
    with tempfile.TemporaryDirectory(prefix="loyaltylens-candidate-") as work_dir:
        candidate = build_candidate(result, Path(work_dir), registry.model_name, lineage)
        run_id = log_candidate(registry, candidate)
        passed, reasons = passes_thresholds(candidate.metrics, thresholds or Thresholds.from_settings(get_settings()))
        version = registry.register(candidate.model_dir, run_id, candidate.metrics) if passed or force else None
    return TrainingOutcome(run_id, version, passed, reasons, candidate.metrics)


def train_from_feature_store(
    feature_version: str = "latest",
    settings: Settings | None = None,
    config: TrainConfig | None = None,
    thresholds: Thresholds | None = None,
    force: bool = False,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> TrainingOutcome:
    """:func:`train_and_register` on a feature-store version's (customer, offer) pair training frame, into the
    settings' registry: the offer-aware model is the one production serves.

    The run is tagged with the version's lineage (feature version, dataset id and hash, schema hash).

    Raises:
        NotFoundError: the store is empty, or the version has no training frame.
        UnknownVersionError: no such feature version.
        DataValidationError: the training frame cannot be trained on.
    """
    settings = settings or get_settings()
    store = FeatureStore.from_settings(settings)
    info = store.describe(feature_version)
    frame = store.get_training_frame(info.version)
    lineage = {
        "feature_version": info.version,
        "feature_as_of": info.as_of,
        "dataset_id": info.dataset_id,
        "dataset_hash": info.dataset_hash,
        "schema_hash": info.schema_hash,
        "label_window_days": info.label_window_days,
    }
    return train_and_register(
        frame,
        ModelRegistry.from_settings(settings),
        {key: str(value) for key, value in lineage.items() if value is not None},
        config or TrainConfig.from_settings(settings),
        thresholds or Thresholds.from_settings(settings),
        force,
        on_epoch,
    )


@dataclass(frozen=True)
class GateDecision:
    """What :func:`evaluate_candidate` found: the gate's verdict and the artifact's re-measured metrics."""

    passed: bool
    reasons: list[str]
    served_metrics: dict[str, float]  # test_* of the exported artifact, as it will be served
    report_html: str
    model_card_markdown: str


def evaluate_candidate(
    model_dir: Path, test: pd.DataFrame, thresholds: Thresholds, dataset_dir: Path | None = None
) -> GateDecision:
    """Score the exported model in ``model_dir`` on ``test`` (as it will be served) and apply the gate.

    The baselines' figures come from training on the same split (the model dir's ``metrics.json``); the
    candidate's own are re-measured on the artifact and replace the training-time ones. When ``test``
    carries the hidden truth (attached by the evaluation, never by training), truth agreement is reported;
    with the dataset too, a pair model's ceilings and offer ranking against the truth
    (:func:`loyaltylens.propensity.truth_evaluation.offer_truth_metrics`).
    """
    training_metrics = json.loads((Path(model_dir) / METRICS_FILENAME).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        plot = Path(tmp) / RELIABILITY_PLOT
        evaluation = evaluate_model_dir(model_dir, test, plot_path=plot)
        plot_b64 = base64.b64encode(plot.read_bytes()).decode()
    served = {f"test_{key}": float(value) for key, value in evaluation.metrics.items()}
    if dataset_dir is not None and OFFER_COLUMN in test.columns and TRUE_PROPENSITY_COLUMN in test.columns:
        offers = offer_truth_metrics(Path(model_dir), test, Path(dataset_dir))
        served.update({f"test_{key}": value for key, value in offers.items()})
    gate_metrics = {**training_metrics, **served}
    passed, reasons = passes_thresholds(gate_metrics, thresholds)
    rows = "".join(
        f"<tr><td>{html.escape(key)}</td><td>{value:.4f}</td></tr>"
        for key, value in sorted(gate_metrics.items())
        if "test" in key
    )
    verdict = "PASSED" if passed else "FAILED: " + html.escape("; ".join(reasons))
    report = (
        f"<html><body><h1>Propensity evaluation</h1><p>Gate: {verdict}</p>"
        f"<img src='data:image/png;base64,{plot_b64}' width='520'/>"
        f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table></body></html>"
    )
    card = (Path(model_dir) / "model_card.md").read_text()
    return GateDecision(passed, reasons, served, report, card)


def register_gated_candidate(
    registry: ModelRegistry,
    model_dir: Path,
    archive_dir: Path | None,
    run_id: str,
    evaluation_metrics: Mapping[str, float],
    companions: Mapping[str, Path] | None = None,
) -> int:
    """Register the gated model directory (with the TorchServe ``.mar`` files of ``archive_dir``, a
    :func:`loyaltylens.propensity.torchserve.kserve_layout`) as a new ``challenger`` version.

    ``companions`` (file name in the version -> local file) are what was fitted for this model in other steps
    (the pipeline's margin model), stored in the version so whatever loads it loads them from the same version.

    The version's metrics are the training metrics (candidate and baselines) overlaid with the evaluation
    step's re-measurement of the exported artifact.
    """
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(shutil.copytree(model_dir, Path(tmp) / MODEL_SUBDIR))
        for mar in Path(archive_dir).glob("model-store/*.mar") if archive_dir else ():
            shutil.copy2(mar, staged / mar.name)
        for name, path in (companions or {}).items():
            shutil.copy2(path, staged / name)
        training_metrics = json.loads((staged / METRICS_FILENAME).read_text())
        # What only the evaluation step could measure (truth agreement, ceilings, offer ranking) joins the card.
        card = ModelCard.load(staged)
        truth = {key: float(value) for key, value in evaluation_metrics.items() if key not in training_metrics}
        card = dataclasses.replace(card, truth_evaluation={**card.truth_evaluation, **truth})
        backtest = registry.latest_run_of_kind(ROLLING_EVALUATION_RUN)
        if backtest is not None:
            # It evaluated the recipe on the data of its own run: the card says which run and which features.
            recipe = {"mlflow_run_id": backtest.info.run_id, **backtest.data.params, **backtest.data.metrics}
            card = dataclasses.replace(card, recipe_backtest=recipe)
        card.save(staged)
        return registry.register(staged, run_id, {**training_metrics, **evaluation_metrics})


def record_rejection(registry: ModelRegistry, run_id: str, reasons: list[str]) -> str:
    """Tag the run with why the gate refused its candidate; returns the decision as markdown."""
    registry.record_rejection(run_id, reasons)
    return f"# Candidate not registered\n\nMLflow run `{run_id}` failed the gate: {'; '.join(reasons)}\n"


def measure_uncertainty(
    parts: Mapping[str, pd.DataFrame], scores: Mapping[str, Mapping[str, np.ndarray]]
) -> dict[str, float]:
    """How sure the comparison is, as flat metrics: per split, the transformer's AUC with its 95% customer-
    cluster bootstrap interval, its paired AUC difference to the best baseline *on validation* (the same
    baseline on both splits: chosen without looking at test) with its interval, and the ECE a perfectly
    calibrated model shows at that n (``ece_noise_floor``), to read the measured ECE against."""
    baselines = [name for name in scores if name not in (PRIMARY_MODEL, UNCALIBRATED)]
    val_labels = label_vector(parts[GATE_SPLIT])
    best = max(baselines, key=lambda name: roc_auc_score(val_labels, scores[name][GATE_SPLIT]))
    metrics: dict[str, float] = {}
    for split, part in parts.items():
        comparison = bootstrap_auc(
            label_vector(part),
            {name: scores[name][split] for name in (PRIMARY_MODEL, best)},
            part[ENTITY_COLUMN].to_numpy(),
            reference=best,
        )
        auc, difference = comparison.auc[PRIMARY_MODEL], comparison.difference[PRIMARY_MODEL]
        metrics.update(
            {
                metric_name("auc_ci_low", split): auc.low,
                metric_name("auc_ci_high", split): auc.high,
                metric_name(f"auc_minus_{best}", split): difference.estimate,
                metric_name(f"auc_minus_{best}_ci_low", split): difference.low,
                metric_name(f"auc_minus_{best}_ci_high", split): difference.high,
                metric_name("ece_noise_floor", split): ece_noise_floor(scores[PRIMARY_MODEL][split]),
            }
        )
    return metrics


def backtest_origin(
    frame: pd.DataFrame, origin: int, n_origins: int, config: TrainConfig, model_dir: Path
) -> FoldScores:
    """One origin of a rolling-origin backtest of the training recipe: train every model with the
    ``origin``-th (0-based) of the last ``n_origins`` snapshots of ``frame`` as test and the one before it as
    validation, export the TabTransformer to ``model_dir`` and return the origin's scores.

    Raises:
        DataValidationError: too few snapshots for ``n_origins``, or ``origin`` out of range.
    """
    dates = origin_dates(frame, n_origins)
    if not 0 <= origin < len(dates):
        raise DataValidationError(f"origin must be in [0, {len(dates)}), got {origin}")
    contract = FeatureContract.for_frame(frame.columns)
    fold = train_origin(frame, dates[origin], contract, config)
    parity_rows = torch.from_numpy(feature_matrix(fold.split.test.iloc[:PARITY_ROWS], contract.names))
    export_model(fold.transformer.model, contract, model_dir, parity_rows=parity_rows)
    return FoldScores.from_fold(fold)


def _score_splits(result: TrainResult, parts: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, np.ndarray]]:
    """``{model: {split: probabilities}}``: the transformer (calibrated and not) and the baselines."""
    baselines = train_baselines(result.split, result.contract, result.config.seed)
    scores: dict[str, dict[str, np.ndarray]] = {PRIMARY_MODEL: {}, UNCALIBRATED: {}}
    scores.update({name: {} for name in baselines})
    for split, part in parts.items():
        matrix = feature_matrix(part, result.contract.names)
        scores[PRIMARY_MODEL][split] = score_frame(result.model, matrix)
        logits = predict_in_chunks(result.model.logits, torch.from_numpy(matrix))
        scores[UNCALIBRATED][split] = torch.sigmoid(logits).reshape(-1).numpy()
        for name, baseline in baselines.items():
            scores[name][split] = baseline.predict(matrix)
    return scores


def _model_card(
    model_name: str,
    result: TrainResult,
    evaluations: Mapping[str, Mapping[str, Evaluation]],
    lineage: dict[str, str],
    params: dict[str, object],
    uncertainty: dict[str, float],
) -> ModelCard:
    """The (unregistered) card: test metrics of every model, calibration effect, slices of the transformer."""
    primary = evaluations[PRIMARY_MODEL]
    return ModelCard(
        model_name=model_name,
        version=None,
        created=datetime.now(tz=UTC).isoformat(timespec="seconds"),
        lineage=lineage,
        data=result.split.summary(),
        metrics={model: by_split["test"].metrics for model, by_split in evaluations.items()},
        calibration={
            "method": "temperature scaling fitted on the validation split (minimum NLL)",
            "temperature": result.temperature,
            **{
                f"{split}_ece_{when}": evaluations[model][split].metrics["ece"]
                for split in EVALUATED_SPLITS
                for when, model in (("before", UNCALIBRATED), ("after", PRIMARY_MODEL))
            },
        },
        training={
            "epochs_run": len(result.history),
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "seconds": round(result.seconds, 1),
            **params,
        },
        slices=primary["test"].slices,
        uncertainty=uncertainty,
    )


def _epoch_row(epoch: EpochMetrics) -> dict[str, float]:
    """One epoch as MLflow metrics (step = epoch); ``epoch/`` keeps them apart from the final metrics."""
    return {
        "epoch/train_loss": epoch.train_loss,
        "epoch/val_loss": epoch.val_loss,
        "epoch/val_auc": epoch.val_auc,
        "epoch/seconds": epoch.seconds,
    }
