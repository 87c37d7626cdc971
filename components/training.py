"""Train, evaluate, package and register the propensity model."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Model, Output

from components import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def train_model(
    training_frame: Input[Dataset],
    feature_version: str,
    max_epochs: int,
    seed: int,
    model: Output[Model],
    metrics: Output[Metrics],
) -> NamedTuple("TrainOutputs", run_id=str):
    """Train the TabTransformer and the baselines on the temporal split; log the run to MLflow.

    The ``model`` artifact is the exported model directory (TorchScript + feature contract + model card).
    """
    import shutil
    import tempfile
    from collections import namedtuple
    from pathlib import Path

    import pandas as pd

    from loyaltylens.config import get_settings
    from loyaltylens.propensity.registry import ModelRegistry
    from loyaltylens.propensity.train import TrainConfig, train_propensity
    from loyaltylens.propensity.workflow import build_candidate, log_candidate

    settings = get_settings()
    registry = ModelRegistry.from_settings(settings)
    frame = pd.read_parquet(training_frame.path)
    lineage = {"feature_version": feature_version, **training_frame.metadata}
    with tempfile.TemporaryDirectory(prefix="candidate-") as work_dir:
        result = train_propensity(frame, TrainConfig(max_epochs=max_epochs, seed=seed))
        candidate = build_candidate(result, Path(work_dir), registry.model_name, lineage)
        run_id = log_candidate(registry, candidate)
        shutil.copytree(candidate.model_dir, model.path)
    for key, value in candidate.metrics.items():
        metrics.log_metric(key, float(value))
    model.metadata.update(
        {"framework": "torchscript", "feature_version": feature_version, "mlflow_run_id": run_id}
    )
    return namedtuple("TrainOutputs", ["run_id"])(run_id)


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def evaluate_model(
    model: Input[Model],
    training_frame: Input[Dataset],
    min_test_auc: float,
    max_test_ece: float,
    max_baseline_auc_gap: float,
    metrics: Output[Metrics],
    report: Output[HTML],
    model_card: Output[Markdown],
) -> NamedTuple("EvaluationOutputs", passed=bool, reasons=str):
    """Score the exported TorchScript artifact (as it will be served) on the test split and apply the gate."""
    import base64
    import json
    import tempfile
    from collections import namedtuple
    from pathlib import Path

    import pandas as pd

    from loyaltylens.propensity.evaluate import Thresholds, evaluate_model_dir, passes_thresholds
    from loyaltylens.propensity.frame import temporal_split
    from loyaltylens.propensity.workflow import METRICS_FILENAME

    model_dir = Path(model.path)
    test = temporal_split(pd.read_parquet(training_frame.path)).test
    training_metrics = json.loads((model_dir / METRICS_FILENAME).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        plot = Path(tmp) / "reliability.png"
        evaluation = evaluate_model_dir(model_dir, test, plot_path=plot)
        plot_b64 = base64.b64encode(plot.read_bytes()).decode()
    served = {f"test_{key}": value for key, value in evaluation.metrics.items()}
    # Baseline figures come from training (same split); the transformer's are re-measured on the artifact.
    gate_metrics = {**training_metrics, **served}
    thresholds = Thresholds(
        min_auc=min_test_auc, max_ece=max_test_ece, baseline_auc_tolerance=max_baseline_auc_gap
    )
    passed, reasons = passes_thresholds(gate_metrics, thresholds)
    for key, value in served.items():
        metrics.log_metric(key, float(value))
    rows = "".join(
        f"<tr><td>{k}</td><td>{v:.4f}</td></tr>" for k, v in sorted(gate_metrics.items()) if "test" in k
    )
    verdict = "PASSED" if passed else "FAILED: " + "; ".join(reasons)
    Path(report.path).write_text(
        f"<html><body><h1>Propensity evaluation</h1><p>Gate: {verdict}</p>"
        f"<img src='data:image/png;base64,{plot_b64}' width='520'/>"
        f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table></body></html>"
    )
    Path(model_card.path).write_text((model_dir / "model_card.md").read_text())
    return namedtuple("EvaluationOutputs", ["passed", "reasons"])(passed, "; ".join(reasons))


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def export_torchserve(model: Input[Model], archive: Output[Model]):
    """Package the same TorchScript file as a TorchServe .mar in the KServe ``pytorch`` runtime layout."""
    from pathlib import Path

    from loyaltylens.inference.torchserve import kserve_layout

    kserve_layout(Path(model.path), Path(archive.path))
    archive.metadata.update(
        {"framework": "torchserve", "layout": "config/config.properties + model-store/*.mar"}
    )


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def register_model(model: Input[Model], archive: Input[Model], run_id: str, metrics: Input[Metrics]) -> int:
    """Register the gated model directory (with its .mar) as a new version under alias ``challenger``.

    The version's metrics are the training metrics (transformer and baselines, val and test) overlaid with
    the evaluation step's re-measurement of the exported artifact.
    """
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from loyaltylens.config import get_settings
    from loyaltylens.propensity.registry import ModelRegistry

    registry = ModelRegistry.from_settings(get_settings())
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(shutil.copytree(model.path, Path(tmp) / "model"))
        for mar in Path(archive.path).glob("model-store/*.mar"):
            shutil.copy2(mar, staged / mar.name)
        version_metrics = {**json.loads((staged / "metrics.json").read_text()), **metrics.metadata}
        return registry.register(staged, run_id, version_metrics)


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def record_rejection(reasons: str, run_id: str, decision: Output[Markdown]):
    """The gate refused the candidate: keep the registry as it is and say why, on the MLflow run too."""
    from pathlib import Path

    from loyaltylens.config import get_settings
    from loyaltylens.propensity.registry import ModelRegistry

    ModelRegistry.from_settings(get_settings()).client.set_tag(
        run_id, "loyaltylens.gate", f"rejected: {reasons}"
    )
    Path(decision.path).write_text(
        f"# Candidate not registered\n\nMLflow run `{run_id}` failed the gate: {reasons}\n"
    )
