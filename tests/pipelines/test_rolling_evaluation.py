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
def test_rolling_evaluation_trains_each_origin_and_logs_intervals_ceilings_ndcg_and_the_policy(isolated_settings):
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
    # The policy by expected margin on the origins' test campaigns, in EUR at the truth, beside the others.
    assert metrics["policy_test_campaigns"] == 3
    for policy in ("project", "top_p", "random"):
        assert metrics[f"policy_{policy}_eur"] <= metrics["policy_oracle_eur"]
    assert metrics["policy_share_of_oracle_low"] <= metrics["policy_share_of_oracle"] <= 1.0
    dr = sorted(k for k in metrics if k.startswith("policy_project_dr_campaign") and k[-1].isdigit())
    assert len(dr) == 3 and all(metrics[k + "_low"] <= metrics[k] <= metrics[k + "_high"] for k in dr)
    assert "policy_chosen_p_redeem_true" in metrics and "policy_discount_spend_eur_per_targeted" in metrics
    report = load_text(f"{mlflow_run.info.artifact_uri}/report.md")
    assert "# Rolling-origin evaluation" in report and "rolling_per_pair_oracle_auc" in report
