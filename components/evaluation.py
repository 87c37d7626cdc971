"""Rolling-origin backtest of the training recipe: one pod per origin, then one summary against the truth."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Metrics, Model, Output

from components import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def train_origin(
    training_frame: Input[Dataset],
    origin: int,
    n_origins: int,
    max_epochs: int,
    seed: int,
    model: Output[Model],
    scores: Output[Dataset],
):
    """Train the TabTransformer and the baselines with the ``origin``-th of the last ``n_origins`` campaigns as
    test (the campaign before it as validation); export the TabTransformer and every model's test scores."""
    from pathlib import Path

    import pandas as pd

    from loyaltylens.config import task_settings
    from loyaltylens.propensity.train import TrainConfig
    from loyaltylens.propensity.workflow import backtest_origin

    config = TrainConfig.from_settings(task_settings(), max_epochs=max_epochs, seed=seed)
    frame = pd.read_parquet(training_frame.path)
    fold = backtest_origin(frame, origin, n_origins, config, Path(model.path))
    fold.save(Path(scores.path))
    scores.metadata.update({"origin": origin, "test_as_of": str(fold.test["as_of"].iloc[0]), **fold.val_auc})


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def summarize_rolling(
    scores: Input[list[Dataset]],
    models: Input[list[Model]],
    dataset: Input[Dataset],
    feature_version: str,
    metrics: Output[Metrics],
    report: Output[Markdown],
):
    """Pool the origins against the simulator's truth (intervals, paired differences to the best baseline on
    validation, ceilings, NDCG@10; the policy by expected margin in EUR beside the other policies, its
    off-policy estimates and calibration on the offers sent) and log them as an MLflow run in the propensity
    model's experiment, which the model card cites."""
    from pathlib import Path

    from loyaltylens.config import task_settings
    from loyaltylens.decision.truth_value import rolling_policy_evaluation
    from loyaltylens.features.definitions import AS_OF_COLUMN
    from loyaltylens.propensity.registry import ModelRegistry
    from loyaltylens.propensity.rolling import ROLLING_EVALUATION_RUN, FoldScores
    from loyaltylens.propensity.truth_evaluation import rolling_markdown, rolling_report

    settings = task_settings()
    folds = [FoldScores.load(Path(artifact.path)) for artifact in scores]
    model_dirs = [Path(artifact.path) for artifact in models]
    summary = rolling_report(folds, Path(dataset.path), model_dirs)
    test_as_of = [fold.test[AS_OF_COLUMN].iloc[0] for fold in folds]
    summary |= rolling_policy_evaluation(Path(dataset.path), test_as_of, model_dirs, settings)
    markdown = rolling_markdown(summary)
    run_id = ModelRegistry.from_settings(settings).log_evaluation_run(
        run_name=ROLLING_EVALUATION_RUN,
        params={"feature_version": feature_version, "origins": len(folds)},
        metrics=summary,
        report=markdown,
    )
    for key, value in summary.items():
        metrics.log_metric(key, value)
    Path(report.path).write_text(markdown + f"\nMLflow run `{run_id}`.\n")
