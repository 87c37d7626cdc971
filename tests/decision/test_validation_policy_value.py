"""The eval gate's policy value on validation, from the logs of a small generated dataset."""

from pathlib import Path

import numpy as np

from loyaltylens.config import Settings
from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset, read_manifest
from loyaltylens.decision.evaluation import challenger_not_worse, validation_policy_value
from loyaltylens.features.definitions import PAIR_FEATURE_NAMES

DISCOUNT = PAIR_FEATURE_NAMES.index("discount_pct")
TINY = GeneratorConfig(n_customers=600, n_days=74, seed=11)  # 4 campaigns: 2 to fit on, validation, last


def _deep_discounts_first(rows: np.ndarray) -> np.ndarray:
    return 0.01 + 0.002 * rows[:, DISCOUNT]


def test_policy_value_on_validation_and_the_paired_gate(tmp_path: Path) -> None:
    small_dataset = generate_dataset(TINY, tmp_path / dataset_id(TINY)).path
    validation = len(read_manifest(small_dataset)["period"]["campaign_dates"]) - 1
    settings = Settings()
    policy = validation_policy_value(_deep_discounts_first, small_dataset, validation, settings, fit_campaigns=2)
    assert set(policy.value) == {"ips", "snips", "dr"}
    for estimate in policy.value.values():
        assert np.isfinite(estimate.value) and estimate.low <= estimate.value <= estimate.high
    assert 0.0 <= policy.share_sent <= 1.0 and policy.expected_discount_spend_eur >= 0.0
    passes, difference = challenger_not_worse(policy, policy)
    assert passes and difference.value == 0.0 and difference.low == difference.high == 0.0
