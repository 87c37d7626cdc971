"""The eval gate's policy value on validation, and the margin model the training pipeline registers (its opt-out
model among its parts), from the logs of a small generated dataset."""

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from loyaltylens.config import Settings
from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset, load_table, read_manifest
from loyaltylens.decision.campaign import fit_opt_out_model
from loyaltylens.decision.evaluation import (
    challenger_not_worse,
    fit_margin_model,
    recalibrate_blend,
    validation_policy_value,
)
from loyaltylens.decision.margin import (
    MARGIN_MODEL_FILENAME,
    PAIR_LOGISTIC_WEIGHT,
    MarginModel,
    OptOutModel,
    PairLogisticModel,
    load_margin_model,
)
from loyaltylens.errors import InvalidInputError
from loyaltylens.features.compute import connect
from loyaltylens.features.definitions import FEATURE_NAMES, PAIR_FEATURE_NAMES
from loyaltylens.features.pairs import compute_pair_training_frame
from loyaltylens.propensity.contract import FeatureContract
from tests.model_samples import random_feature_rows

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
    assert loaded.redeemer_anyway_shift == fitted.redeemer_anyway_shift
    (p_fitted, terms_fitted), (p_loaded, terms_loaded) = fitted.margins(rows, scores), loaded.margins(rows, scores)
    np.testing.assert_allclose(p_loaded, p_fitted, rtol=1e-12)
    np.testing.assert_allclose(terms_loaded.expected_margin, terms_fitted.expected_margin, rtol=1e-9)
    assert np.ptp(terms_fitted.expected_margin) > 0  # the rows differ, so would a broken anyway model's output
    assert fitted.pair_logistic is not None  # the margin model blends the scorer with its pair logistic model
    assert loaded.pair_logistic_weight == fitted.pair_logistic_weight == PAIR_LOGISTIC_WEIGHT

    # A margin model decides with the blend weight its recalibration was fitted with, whatever the default is now.
    document = json.loads((tmp_path / MARGIN_MODEL_FILENAME).read_text())
    (tmp_path / MARGIN_MODEL_FILENAME).write_text(json.dumps(document | {"pair_logistic_weight": 0.5}))
    assert load_margin_model(tmp_path).pair_logistic_weight == 0.5

    for key in ("pair_logistic", "pair_logistic_weight"):
        (tmp_path / MARGIN_MODEL_FILENAME).write_text(json.dumps({k: v for k, v in document.items() if k != key}))
        with pytest.raises(InvalidInputError, match=f"older LoyaltyLens .no {key}.: refit"):
            load_margin_model(tmp_path)


def test_the_opt_out_model_reads_the_customer_columns_and_learns_from_them() -> None:
    rng = np.random.default_rng(2)
    rows = rng.uniform(0, 10, size=(4000, len(PAIR_FEATURE_NAMES))).astype(np.float32)
    recent_sends = rows[:, PAIR_FEATURE_NAMES.index("offers_received_30d")]
    opted_out = rng.random(len(rows)) < np.where(recent_sends > 5, 0.2, 0.01)
    model = OptOutModel().fit(rows, opted_out)
    p = model.predict(rows)
    assert p[recent_sends > 5].mean() > 5 * p[recent_sends <= 5].mean()
    other_offer = rows.copy()
    other_offer[:, len(FEATURE_NAMES) :] = rng.uniform(
        0, 10, size=(len(rows), len(PAIR_FEATURE_NAMES) - len(FEATURE_NAMES))
    )
    np.testing.assert_array_equal(model.predict(other_offer), p)  # p(opt out) is the customer's, whatever the offer
    np.testing.assert_allclose(OptOutModel.from_text(model.to_text()).predict(rows), p, rtol=1e-12)


def test_the_opt_out_model_learns_only_unsubscriptions_known_before_the_campaign(small_dataset: Path) -> None:
    con = connect(small_dataset)
    dates = [datetime.fromisoformat(d) for d in read_manifest(small_dataset)["period"]["campaign_dates"]]
    snapshots = dates[:2]
    sends = compute_pair_training_frame(con, snapshots, Settings().label_window_days)
    rows = sends[list(PAIR_FEATURE_NAMES)].to_numpy(np.float32)
    events = load_table(small_dataset, "offer_events")
    logged_rate = events["assignment_id"][events["event_type"] == "unsubscribed"].isin(sends["assignment_id"]).sum()
    logged_rate /= len(sends)
    assert logged_rate > 0  # the tiny dataset logs some opt-outs, or this test proves nothing

    known = fit_opt_out_model(con, sends, dates[3])
    assert known.predict(rows).mean() == pytest.approx(logged_rate, rel=0.25)
    # Before the first snapshot's sends went out no unsubscription was known: nothing to learn but "never".
    unknown = fit_opt_out_model(con, sends, snapshots[0])
    assert unknown.predict(rows).max() < 1e-6


def _planted_sends(n: int, seed: int, base_logit: float) -> tuple[np.ndarray, np.ndarray]:
    """Valid pair rows whose redemption depends on the discount only: logit = base + 0.03 x discount points."""
    rows = random_feature_rows(FeatureContract.for_pairs(), n, seed)
    rng = np.random.default_rng(seed)
    p = 1.0 / (1.0 + np.exp(-(base_logit + 0.03 * rows[:, DISCOUNT])))
    return rows, rng.random(n) < p


def _flat(rows: np.ndarray) -> np.ndarray:
    return np.full(len(rows), 0.05)  # a propensity model that misses the offer's effect entirely


def test_the_blend_weighs_the_two_logits_by_the_margin_models_weight() -> None:
    rows, labels = _planted_sends(20_000, 0, base_logit=-6.0)
    pair_logistic = PairLogisticModel().fit(rows, labels)
    scores = _deep_discounts_first(rows).astype(np.float64)
    model_logit, pair_logit = np.log(scores / (1 - scores)), pair_logistic.logit(rows)
    assert np.ptp(model_logit - pair_logit) > 1.0  # the two disagree, so the weight matters

    def blended_logit(weight: float) -> np.ndarray:
        p = MarginModel(None, None, pair_logistic, None, None, pair_logistic_weight=weight).redeem_probability(
            rows, scores
        )
        return np.log(p / (1 - p))

    np.testing.assert_allclose(blended_logit(0.0), model_logit, rtol=1e-9)
    np.testing.assert_allclose(blended_logit(1.0), pair_logit, rtol=1e-9)
    default = MarginModel(None, None, pair_logistic, None, None).redeem_probability(rows, scores)
    expected = (1 - PAIR_LOGISTIC_WEIGHT) * model_logit + PAIR_LOGISTIC_WEIGHT * pair_logit
    np.testing.assert_allclose(np.log(default / (1 - default)), expected, rtol=1e-9)


def test_the_pair_logistic_model_adds_the_offer_effect_the_scorer_misses_and_the_recent_campaign_sets_the_level():
    earlier_rows, earlier_labels = _planted_sends(20_000, 0, base_logit=-6.0)
    recent_rows, recent_labels = _planted_sends(5_000, 1, base_logit=-5.0)  # drift: every odds x e
    pair_logistic = PairLogisticModel().fit(earlier_rows, earlier_labels)
    recalibration = recalibrate_blend(_flat, pair_logistic, recent_rows, recent_labels)
    model = MarginModel(None, None, pair_logistic, recalibration, None)
    shallow, deep = recent_rows[:, DISCOUNT] < 30, recent_rows[:, DISCOUNT] > 70
    p = model.redeem_probability(recent_rows, _flat(recent_rows))
    assert p[deep].mean() > 3 * p[shallow].mean()  # most of the planted odds ratio (~e^2 between the two ends)
    np.testing.assert_allclose(p.mean(), recent_labels.mean(), rtol=0.1)  # the recent level, not the earlier one
    assert p.mean() > 1.5 * earlier_labels.mean()
    # what a registered margin model carries: the same probabilities after a round trip through its JSON
    again = PairLogisticModel(**json.loads(json.dumps(pair_logistic.to_dict())))
    np.testing.assert_allclose(again.logit(recent_rows), pair_logistic.logit(recent_rows))
