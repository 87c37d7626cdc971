"""What make run reports: a policy's true value on the newest campaign with recorded truth, against send-all,
random and the oracle, from a small generated dataset."""

from pathlib import Path

import numpy as np
import pytest

from loyaltylens.config import Settings
from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset
from loyaltylens.decision.evaluation import fit_margin_model
from loyaltylens.decision.truth_value import ORACLE, PROJECT, RANDOM, SEND_ALL, last_truth_campaign, policy_truth_values
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
