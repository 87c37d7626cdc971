"""The training pipeline: data → validation → features → train → evaluate → (gate) → register; + TorchServe export
and the margin model (registered with the model: the decision chain decides by expected margin with it);
and from the same dataset, the offer catalog's retrieval index and the local copy generator.

Run locally: ``loyaltylens pipeline run training`` (kfp.local); on a cluster: ``--host URL``.
Compile: ``python -m pipelines.training`` (writes training.yaml beside this file; a test checks it is current).
Parameter defaults are the settings' built-in defaults; every task gets its cluster environment (ConfigMap,
Secrets, scratch emptyDir) from :func:`loyaltylens.kfp_runner.platform.on_cluster`.
"""

from collections.abc import Callable
from pathlib import Path

from kfp import compiler, dsl

from components.data import load_data, validate_data
from components.features import build_features
from components.generation import train_generator
from components.retrieval import index_offers
from components.training import (
    evaluate_model,
    export_torchserve,
    fit_margin_model,
    record_rejection,
    register_model,
    train_model,
)
from loyaltylens.config import setting_default
from loyaltylens.kfp_runner.platform import on_cluster

COMPILED = Path(__file__).with_name("training.yaml")
USES_POSTGRES = True  # index_offers writes the offer index there


def train_evaluate_register(
    dataset,
    features,
    *,
    max_epochs,
    learning_rate,
    seed,
    label_window_days,
    gate_min_auc,
    gate_max_ece,
    gate_max_baseline_auc_gap,
    then: Callable[[dsl.PipelineTask], None] | None = None,
) -> None:
    """train → evaluate (the absolute metrics gate), the TorchServe export and the margin model → ``dsl.If``:
    register as ``challenger`` (with its margin model), then ``then(the registration task)`` inside the same
    condition; else record the rejection. The retraining pipeline reuses it with the eval gate as ``then``."""
    training = on_cluster(
        train_model(
            training_frame=features.outputs["training_frame"],
            feature_version=features.outputs["feature_version"],
            max_epochs=max_epochs,
            learning_rate=learning_rate,
            seed=seed,
        )
        .set_cpu_limit("2")
        .set_memory_limit("8G")
    )
    evaluation = on_cluster(
        evaluate_model(
            model=training.outputs["model"],
            training_frame=features.outputs["training_frame"],
            dataset=dataset,
            label_window_days=label_window_days,
            gate_min_auc=gate_min_auc,
            gate_max_ece=gate_max_ece,
            gate_max_baseline_auc_gap=gate_max_baseline_auc_gap,
        )
    )
    archive = on_cluster(export_torchserve(model=training.outputs["model"]))
    margin = on_cluster(
        fit_margin_model(
            model=training.outputs["model"], training_frame=features.outputs["training_frame"], dataset=dataset
        )
    )
    with dsl.If(evaluation.outputs["passed"] == True, name="metrics-pass"):  # noqa: E712 (KFP condition)
        registration = on_cluster(
            register_model(
                model=training.outputs["model"],
                archive=archive.outputs["archive"],
                margin_model=margin.outputs["margin_model"],
                run_id=training.outputs["run_id"],
                metrics=evaluation.outputs["metrics"],
            ).set_caching_options(False)
        )
        if then is not None:
            then(registration)
    with dsl.Else(name="metrics-fail"):
        on_cluster(
            record_rejection(
                reasons=evaluation.outputs["reasons"], run_id=training.outputs["run_id"]
            ).set_caching_options(False)
        )


@dsl.pipeline(name="loyaltylens-training", description="Train, gate and register the LoyaltyLens propensity model.")
def pipeline(
    source: str = "synthetic",
    n_customers: int = setting_default("n_customers"),
    n_days: int = setting_default("n_days"),
    seed: int = setting_default("seed"),
    label_window_days: int = setting_default("label_window_days"),
    max_epochs: int = setting_default("max_epochs"),
    propensity_learning_rate: float = setting_default("propensity_learning_rate"),
    gate_min_auc: float = setting_default("gate_min_auc"),
    gate_max_ece: float = setting_default("gate_max_ece"),
    gate_max_baseline_auc_gap: float = setting_default("gate_max_baseline_auc_gap"),
    generator_train_steps: int = setting_default("generator_train_steps"),
):
    data = on_cluster(load_data(source=source, n_customers=n_customers, n_days=n_days, seed=seed))
    validation = on_cluster(validate_data(dataset=data.outputs["dataset"]))
    features = on_cluster(
        build_features(dataset=data.outputs["dataset"], label_window_days=label_window_days).after(validation)
    )
    # Tasks with side effects (they write to the registry or the offer index) never take a cached result:
    # on a KFP backend a cache hit would skip the write.
    on_cluster(index_offers(dataset=data.outputs["dataset"]).after(validation).set_caching_options(False))
    on_cluster(
        train_generator(dataset=data.outputs["dataset"], steps=generator_train_steps, seed=seed, from_feedback=False)
        .after(validation)
        .set_caching_options(False)
    )
    train_evaluate_register(
        data.outputs["dataset"],
        features,
        max_epochs=max_epochs,
        learning_rate=propensity_learning_rate,
        seed=seed,
        label_window_days=label_window_days,
        gate_min_auc=gate_min_auc,
        gate_max_ece=gate_max_ece,
        gate_max_baseline_auc_gap=gate_max_baseline_auc_gap,
    )


if __name__ == "__main__":
    compiler.Compiler().compile(pipeline, str(COMPILED))
