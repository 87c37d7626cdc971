"""The rolling-origin evaluation pipeline runs for real with kfp.local: one pod per origin (ParallelFor),
pooled against the truth, logged to MLflow."""

import pytest
from kfp import local
from mlflow.artifacts import load_text

from loyaltylens.kfp_runner.runner import run_local
from loyaltylens.propensity.registry import RUN_KIND_TAG, ModelRegistry

# 150 days give the training pipeline 3 campaigns; three origins need at least 5.
TINY = {"n_customers": 1500, "n_days": 210, "max_epochs": 2}


@pytest.fixture(autouse=True)
def reset_kfp_local():
    yield
    local.config.LocalExecutionConfig.instance = None


@pytest.mark.pipeline_run
def test_rolling_evaluation_trains_each_origin_and_logs_intervals_ceilings_and_ndcg(isolated_settings):
    run = run_local("rolling_evaluation", TINY, isolated_settings, isolated_settings.data_dir / "pipeline.log")

    assert run.task_status["train-origin"] == run.task_status["summarize-rolling"] == "SUCCESS"
    registry = ModelRegistry.from_settings(isolated_settings)
    (mlflow_run,) = registry.client.search_runs([registry._experiment_id()])
    assert mlflow_run.data.tags[RUN_KIND_TAG] == "rolling-origin evaluation"
    assert registry.list_versions() == []  # it evaluates the recipe; nothing is registered
    metrics = mlflow_run.data.metrics
    assert metrics["rolling_origins"] == 3
    for model in ("tabtransformer", "logistic_regression", "lightgbm"):
        assert metrics[f"rolling_{model}_auc_ci_low"] <= metrics[f"rolling_{model}_auc"]
        assert metrics[f"rolling_{model}_auc"] <= metrics[f"rolling_{model}_auc_ci_high"]
        assert {f"rolling_{model}_auc_origin{i}" for i in (1, 2, 3)} <= set(metrics)
    (difference,) = [k for k in metrics if k.startswith("rolling_tabtransformer_minus_") and k.endswith("_auc")]
    assert metrics[difference + "_ci_low"] <= metrics[difference] <= metrics[difference + "_ci_high"]
    # The per-pair oracle knows which offer was sent; the customer-only one averages over the eligible offers.
    assert metrics["rolling_per_pair_oracle_auc"] > metrics["rolling_customer_only_oracle_auc"] > 0.5
    assert 0 < metrics["rolling_tabtransformer_ndcg_at_10"] <= 1 and 0 < metrics["rolling_random_ndcg_at_10"] <= 1
    assert metrics["rolling_tabtransformer_ece_noise_floor"] > 0
    report = load_text(f"{mlflow_run.info.artifact_uri}/report.md")
    assert "# Rolling-origin evaluation" in report and "rolling_per_pair_oracle_auc" in report
