"""What make run reports: a policy's true value on the newest campaign with recorded truth, against send-all,
random and the oracle, from a small generated dataset."""

from pathlib import Path

import numpy as np
import pytest

from loyaltylens.config import Settings
from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset
from loyaltylens.decision.evaluation import fit_margin_model
from loyaltylens.decision.truth_value import (
    ORACLE,
    PROJECT,
    RANDOM,
    SEND_ALL,
    last_truth_campaign,
    policy_evaluation,
    policy_truth_values,
)
from loyaltylens.features.definitions import PAIR_FEATURE_NAMES
from loyaltylens.groundtruth import load_pair_truth

DISCOUNT = PAIR_FEATURE_NAMES.index("discount_pct")
TINY = GeneratorConfig(n_customers=600, n_days=74, seed=11)  # 4 campaigns


def _deep_discounts_first(rows: np.ndarray) -> np.ndarray:
    return 0.01 + 0.002 * rows[:, DISCOUNT]


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset(TINY, tmp_path_factory.mktemp("truth-value") / dataset_id(TINY)).path


def test_policies_are_priced_at_the_truth_and_bounded_by_the_oracle(small_dataset: Path) -> None:
    settings = Settings()
    campaign = last_truth_campaign(small_dataset)
    margin_model = fit_margin_model(_deep_discounts_first, small_dataset, campaign, settings, fit_campaigns=2)
    priced = policy_truth_values(small_dataset, campaign, margin_model, _deep_discounts_first, settings)
    values = {value.policy: value for value in priced}

    assert set(values) == {PROJECT, SEND_ALL, RANDOM, ORACLE}
    truth = load_pair_truth(small_dataset, [campaign])
    # The random policy's value is the mean over customers of their eligible offers' mean true margin.
    expected_random = truth.groupby("customer_id")["incremental_margin"].mean().mean()
    assert values[RANDOM].eur_per_targeted == pytest.approx(expected_random, rel=1e-9)
    for value in values.values():
        assert value.low <= value.eur_per_targeted <= value.high and 0.0 <= value.share_sent <= 1.0
        assert value.eur_per_targeted <= values[ORACLE].eur_per_targeted + 1e-12  # nothing beats the oracle
    # Deepest discount first sends everyone the offer that redeems most and earns least: below the margin policy.
    assert values[SEND_ALL].eur_per_targeted < values[PROJECT].eur_per_targeted


def test_the_policy_evaluation_pools_test_campaigns_each_decided_by_its_own_margin_model(small_dataset: Path) -> None:
    """What the rolling-origin run logs and the model card cites: the campaigns' customers pooled, each campaign
    decided with the margin model fitted before it; per campaign the same values make run prints."""
    settings = Settings()
    last = last_truth_campaign(small_dataset)
    deciders = [
        (k, fit_margin_model(_deep_discounts_first, small_dataset, k, settings, fit_campaigns=2), _deep_discounts_first)
        for k in (last - 1, last)
    ]
    metrics = policy_evaluation(small_dataset, deciders, settings)

    truth = load_pair_truth(small_dataset, [last - 1, last])
    targeted = truth.groupby("campaign_id")["customer_id"].nunique()
    for short, name in (("project", PROJECT), ("top_p", SEND_ALL), ("random", RANDOM), ("oracle", ORACLE)):
        per_campaign = {}
        for k, margin_model, p_redeem in deciders:
            (value,) = [
                v for v in policy_truth_values(small_dataset, k, margin_model, p_redeem, settings) if v.policy == name
            ]
            per_campaign[k] = value.eur_per_targeted
            assert metrics[f"policy_{short}_eur_campaign{k}"] == pytest.approx(value.eur_per_targeted, rel=1e-9)
        pooled = sum(per_campaign[k] * targeted[k] for k in per_campaign) / targeted.sum()
        assert metrics[f"policy_{short}_eur"] == pytest.approx(pooled, rel=1e-6)  # the truth is float32
        assert (
            metrics[f"policy_{short}_eur_low"] <= metrics[f"policy_{short}_eur"] <= metrics[f"policy_{short}_eur_high"]
        )
        assert metrics[f"policy_{short}_eur"] <= metrics["policy_oracle_eur"] + 1e-12
    share = metrics["policy_share_of_oracle"]
    assert share == pytest.approx(metrics["policy_project_eur"] / metrics["policy_oracle_eur"])
    assert metrics["policy_share_of_oracle_low"] <= share <= metrics["policy_share_of_oracle_high"] and share <= 1.0
    for k, _, _ in deciders:  # off-policy estimates from each campaign's logs, with their intervals
        for estimator in ("ips", "snips", "dr"):
            name = f"policy_project_{estimator}_campaign{k}"
            assert metrics[f"{name}_low"] <= metrics[name] <= metrics[f"{name}_high"]
    assert 0.0 < metrics["policy_share_sent"] <= 1.0 and metrics["policy_discount_spend_eur_per_targeted"] > 0.0
    assert 0.0 < metrics["policy_chosen_p_redeem_true"] < 1.0 and 0.0 < metrics["policy_chosen_p_redeem_model"] < 1.0
