"""The eval gate's policy value on validation, and the margin model the training pipeline registers, from the
logs of a small generated dataset."""

from pathlib import Path

import numpy as np
import pytest

from loyaltylens.config import Settings
from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset, read_manifest
from loyaltylens.decision.evaluation import challenger_not_worse, fit_margin_model, validation_policy_value
from loyaltylens.decision.margin import MARGIN_MODEL_FILENAME, MarginModel, load_margin_model
from loyaltylens.features.definitions import PAIR_FEATURE_NAMES

DISCOUNT = PAIR_FEATURE_NAMES.index("discount_pct")
TINY = GeneratorConfig(n_customers=600, n_days=74, seed=11)  # 4 campaigns: 2 to fit on, validation, last


def _deep_discounts_first(rows: np.ndarray) -> np.ndarray:
    return 0.01 + 0.002 * rows[:, DISCOUNT]


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset(TINY, tmp_path_factory.mktemp("decision") / dataset_id(TINY)).path


def test_policy_value_on_validation_and_the_paired_gate(small_dataset: Path) -> None:
    validation = len(read_manifest(small_dataset)["period"]["campaign_dates"]) - 1
    settings = Settings()
    policy = validation_policy_value(_deep_discounts_first, small_dataset, validation, settings, fit_campaigns=2)
    assert set(policy.value) == {"ips", "snips", "dr"}
    for estimate in policy.value.values():
        assert np.isfinite(estimate.value) and estimate.low <= estimate.value <= estimate.high
    assert 0.0 <= policy.share_sent <= 1.0 and policy.expected_discount_spend_eur >= 0.0
    passes, difference = challenger_not_worse(policy, policy)
    assert passes and difference.value == 0.0 and difference.low == difference.high == 0.0


def test_the_registered_margin_model_decides_as_the_fitted_one(small_dataset: Path, tmp_path: Path) -> None:
    campaign = len(read_manifest(small_dataset)["period"]["campaign_dates"]) - 1
    fitted = fit_margin_model(_deep_discounts_first, small_dataset, campaign, Settings(), fit_campaigns=2)
    rng = np.random.default_rng(0)
    rows = rng.uniform(0, 30, size=(50, len(PAIR_FEATURE_NAMES))).astype(np.float32)
    scores = _deep_discounts_first(rows)

    assert load_margin_model(tmp_path) is None  # a model directory without one: the chain ranks by propensity
    loaded = load_margin_model(fitted.save(tmp_path / MARGIN_MODEL_FILENAME).parent)
    assert isinstance(loaded, MarginModel) and loaded.economics == fitted.economics
    (p_fitted, terms_fitted), (p_loaded, terms_loaded) = fitted.margins(rows, scores), loaded.margins(rows, scores)
    np.testing.assert_allclose(p_loaded, p_fitted, rtol=1e-12)
    np.testing.assert_allclose(terms_loaded.expected_margin, terms_fitted.expected_margin, rtol=1e-9)
    assert np.ptp(terms_fitted.expected_margin) > 0  # the rows differ, so would a broken anyway model's output
