"""The training pipeline: data → validation → features → train → evaluate → (gate) → register; + TorchServe export.

Run locally: ``loyaltylens pipeline run training`` (kfp.local); on a cluster: ``--host URL``.
Compile: ``python -m pipelines.training`` (writes training.yaml beside this file; a test checks it is current).
"""

from pathlib import Path

from kfp import compiler, dsl

from components.data import load_data, validate_data
from components.features import build_features
from components.training import (
    evaluate_model,
    export_torchserve,
    record_rejection,
    register_model,
    train_model,
)

COMPILED = Path(__file__).with_name("training.yaml")


@dsl.pipeline(
    name="loyaltylens-training", description="Train, gate and register the LoyaltyLens propensity model."
)
def pipeline(
    source: str = "synthetic",
    n_customers: int = 50_000,
    n_days: int = 365,
    seed: int = 42,
    label_window_days: int = 14,
    max_epochs: int = 30,
    min_test_auc: float = 0.80,
    max_test_ece: float = 0.03,
    max_baseline_auc_gap: float = 0.01,
):
    data = load_data(source=source, n_customers=n_customers, n_days=n_days, seed=seed)
    validation = validate_data(dataset=data.outputs["dataset"])
    features = build_features(dataset=data.outputs["dataset"], label_window_days=label_window_days).after(
        validation
    )
    training = (
        train_model(
            training_frame=features.outputs["training_frame"],
            feature_version=features.outputs["feature_version"],
            max_epochs=max_epochs,
            seed=seed,
        )
        .set_cpu_limit("2")
        .set_memory_limit("8G")
    )
    evaluation = evaluate_model(
        model=training.outputs["model"],
        training_frame=features.outputs["training_frame"],
        min_test_auc=min_test_auc,
        max_test_ece=max_test_ece,
        max_baseline_auc_gap=max_baseline_auc_gap,
    )
    archive = export_torchserve(model=training.outputs["model"])
    with dsl.If(evaluation.outputs["passed"] == True, name="metrics-pass"):  # noqa: E712 (KFP condition)
        register_model(
            model=training.outputs["model"],
            archive=archive.outputs["archive"],
            run_id=training.outputs["run_id"],
            metrics=evaluation.outputs["metrics"],
        )
    with dsl.Else(name="metrics-fail"):
        record_rejection(reasons=evaluation.outputs["reasons"], run_id=training.outputs["run_id"])


if __name__ == "__main__":
    compiler.Compiler().compile(pipeline, str(COMPILED))
