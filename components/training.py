"""Train, evaluate, package and register the propensity model."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Markdown, Metrics, Model, Output

from components import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def train_model(
    training_frame: Input[Dataset],
    feature_version: str,
    max_epochs: int,
    learning_rate: float,
    seed: int,
    model: Output[Model],
    metrics: Output[Metrics],
) -> NamedTuple("TrainOutputs", run_id=str):
    """Train the offer-aware TabTransformer and the baselines on the temporal split of the pair frame; log the
    run (with bootstrap intervals and the paired difference to the best baseline) to the settings' MLflow.

    The ``model`` artifact is the exported model directory (TorchScript + feature contract + model card).
    """
    import shutil
    import tempfile
    from collections import namedtuple
    from pathlib import Path

    import pandas as pd

    from loyaltylens.config import task_settings
    from loyaltylens.propensity.registry import ModelRegistry
    from loyaltylens.propensity.train import TrainConfig, train_propensity
    from loyaltylens.propensity.workflow import build_candidate, log_candidate

    settings = task_settings()
    registry = ModelRegistry.from_settings(settings)
    frame = pd.read_parquet(training_frame.path)
    lineage = {"feature_version": feature_version, **training_frame.metadata}
    config = TrainConfig.from_settings(settings, max_epochs=max_epochs, learning_rate=learning_rate, seed=seed)
    with tempfile.TemporaryDirectory(prefix="candidate-") as work_dir:
        candidate = build_candidate(train_propensity(frame, config), Path(work_dir), registry.model_name, lineage)
        run_id = log_candidate(registry, candidate)
        shutil.copytree(candidate.model_dir, model.path)
    for key, value in candidate.metrics.items():
        metrics.log_metric(key, float(value))
    model.metadata.update({"framework": "torchscript", "feature_version": feature_version, "mlflow_run_id": run_id})
    return namedtuple("TrainOutputs", ["run_id"])(run_id)


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def evaluate_model(
    model: Input[Model],
    training_frame: Input[Dataset],
    dataset: Input[Dataset],
    label_window_days: int,
    gate_min_auc: float,
    gate_max_ece: float,
    gate_max_baseline_auc_gap: float,
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    report: Output[HTML],
    model_card: Output[Markdown],
) -> NamedTuple("EvaluationOutputs", passed=bool, reasons=str):
    """Score the exported TorchScript artifact (as it will be served) on the test split and apply the gate
    (which reads validation metrics only; test is reported).

    The dataset artifact brings the simulator's hidden truth, read here (evaluation) and nowhere in training:
    truth agreement, the per-pair and customer-only ceilings, and NDCG@10 of the model's offer ranking.
    """
    from collections import namedtuple
    from pathlib import Path

    import pandas as pd

    from loyaltylens.config import task_settings
    from loyaltylens.groundtruth import attach_truth
    from loyaltylens.propensity.evaluate import Thresholds, classification_curves
    from loyaltylens.propensity.frame import temporal_split
    from loyaltylens.propensity.workflow import evaluate_candidate

    test = temporal_split(pd.read_parquet(training_frame.path)).test
    test = attach_truth(test, Path(dataset.path), label_window_days)
    thresholds = Thresholds(gate_min_auc, gate_max_ece, gate_max_baseline_auc_gap)
    decision = evaluate_candidate(Path(model.path), test, thresholds, Path(dataset.path))
    for key, value in decision.served_metrics.items():
        metrics.log_metric(key, value)
    # the KFP UI's ROC curve and confusion matrix (at the serving threshold) of the same test rows
    curves = classification_curves(Path(model.path), test, task_settings().propensity_threshold)
    classification.log_roc_curve(curves.fpr, curves.tpr, curves.thresholds)
    classification.log_confusion_matrix(["no redemption", "redemption"], curves.confusion)
    Path(report.path).write_text(decision.report_html)
    Path(model_card.path).write_text(decision.model_card_markdown)
    return namedtuple("EvaluationOutputs", ["passed", "reasons"])(decision.passed, "; ".join(decision.reasons))


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def fit_margin_model(
    model: Input[Model], training_frame: Input[Dataset], dataset: Input[Dataset], margin_model: Output[Artifact]
):
    """Fit what turns the model's scores into expected incremental margins (anyway model, pair logistic model
    and the recalibration of its blend, economics, opt-out model) on the public logs before the validation
    campaign, never test.
    The JSON artifact is registered beside the model, so whatever loads a version loads its margin model."""
    from pathlib import Path

    import pandas as pd

    from loyaltylens.config import task_settings
    from loyaltylens.decision import evaluation
    from loyaltylens.decision.scorers import InProcessScorer

    frame = pd.read_parquet(training_frame.path)
    campaign = evaluation.validation_campaign(Path(dataset.path), frame)
    fitted = evaluation.fit_margin_model(
        InProcessScorer(Path(model.path)).score, Path(dataset.path), campaign, task_settings()
    )
    fitted.save(Path(margin_model.path))
    margin_model.metadata.update({"fitted_before_campaign": campaign})


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def export_torchserve(model: Input[Model], archive: Output[Model]):
    """Package the same TorchScript file as a TorchServe .mar in the KServe ``pytorch`` runtime layout."""
    from pathlib import Path

    from loyaltylens.propensity.torchserve import kserve_layout

    kserve_layout(Path(model.path), Path(archive.path))
    archive.metadata.update({"framework": "torchserve", "layout": "config/config.properties + model-store/*.mar"})


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def register_model(
    model: Input[Model], archive: Input[Model], margin_model: Input[Artifact], run_id: str, metrics: Input[Metrics]
) -> int:
    """Register the gated model directory (with its .mar and its margin model) in the settings' MLflow as
    ``challenger``."""
    from pathlib import Path

    from loyaltylens.config import task_settings
    from loyaltylens.decision.margin import MARGIN_MODEL_FILENAME
    from loyaltylens.propensity.registry import ModelRegistry
    from loyaltylens.propensity.workflow import register_gated_candidate

    registry = ModelRegistry.from_settings(task_settings())
    companions = {MARGIN_MODEL_FILENAME: Path(margin_model.path)}
    return register_gated_candidate(
        registry, Path(model.path), Path(archive.path), run_id, metrics.metadata, companions
    )


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def record_rejection(reasons: str, run_id: str, decision: Output[Markdown]):
    """The gate refused the candidate: keep the registry as it is and say why, on the MLflow run too."""
    from pathlib import Path

    from loyaltylens.config import task_settings
    from loyaltylens.propensity.registry import ModelRegistry
    from loyaltylens.propensity.workflow import record_rejection as record

    registry = ModelRegistry.from_settings(task_settings())
    Path(decision.path).write_text(record(registry, run_id, reasons.split("; ")))
