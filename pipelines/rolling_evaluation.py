"""The rolling-origin evaluation pipeline: is the training recipe better than its baselines, and how sure are we?

data → features → one ``train_origin`` pod per test campaign (``dsl.ParallelFor``: on a cluster the origins
train side by side) → ``summarize_rolling`` (pooled against the truth, logged to MLflow). It evaluates the
recipe, not one registered model, so it registers nothing; run it when the recipe changes.

Run locally: ``loyaltylens pipeline run rolling_evaluation``; compile: ``python -m pipelines.rolling_evaluation``.
"""

from pathlib import Path

from kfp import compiler, dsl

from components.data import load_data, validate_data
from components.evaluation import summarize_rolling, train_origin
from components.features import build_features
from loyaltylens.config import setting_default
from loyaltylens.kfp_runner.platform import on_cluster

COMPILED = Path(__file__).with_name("rolling_evaluation.yaml")
USES_POSTGRES = False  # no task reads or writes Postgres


@dsl.pipeline(
    name="loyaltylens-rolling-evaluation",
    description="Rolling-origin backtest of the propensity recipe against its baselines and the truth.",
)
def pipeline(
    source: str = "synthetic",
    n_customers: int = setting_default("n_customers"),
    n_days: int = setting_default("n_days"),
    seed: int = setting_default("seed"),
    label_window_days: int = setting_default("label_window_days"),
    max_epochs: int = setting_default("max_epochs"),
):
    data = on_cluster(load_data(source=source, n_customers=n_customers, n_days=n_days, seed=seed))
    validation = on_cluster(validate_data(dataset=data.outputs["dataset"]))
    features = on_cluster(
        build_features(dataset=data.outputs["dataset"], label_window_days=label_window_days).after(validation)
    )
    # The number of origins fixes the fan-out, so it is read when the pipeline is compiled.
    n_origins = setting_default("rolling_origins")
    with dsl.ParallelFor(list(range(n_origins))) as origin:
        fold = on_cluster(
            train_origin(
                training_frame=features.outputs["training_frame"],
                origin=origin,
                n_origins=n_origins,
                max_epochs=max_epochs,
                seed=seed,
            )
            .set_cpu_limit("2")
            .set_memory_limit("8G")
        )
    on_cluster(
        summarize_rolling(
            scores=dsl.Collected(fold.outputs["scores"]),
            models=dsl.Collected(fold.outputs["model"]),
            dataset=data.outputs["dataset"],
            feature_version=features.outputs["feature_version"],
        )
    )


if __name__ == "__main__":
    compiler.Compiler().compile(pipeline, str(COMPILED))
