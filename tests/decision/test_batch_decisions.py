"""The campaign's batch decisions without KFP: the audience in shards of whole customers, each shard scored by the
online chain's margin, and one decision over all shards that does not depend on how they were cut."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset
from loyaltylens.decision.batch import (
    NO_ELIGIBLE_OFFER,
    SHARD,
    campaign_audience,
    campaign_provenance,
    decide_scored,
    require_margin_model,
    score_pairs,
    score_shard,
)
from loyaltylens.decision.campaign import eligible_pairs
from loyaltylens.decision.margin import AnywayModel, Economics, MarginModel, OptOutModel, PlattRecalibration
from loyaltylens.decision.policy import OVER_BUDGET, OVER_CAP, SendLimits
from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.features.compute import connect
from loyaltylens.features.definitions import PAIR_FEATURE_NAMES
from loyaltylens.features.store import FeatureStore
from tests.model_samples import never_opts_out

CONFIG = GeneratorConfig(n_customers=600, n_days=90, seed=11)
ECONOMICS = Economics(0.3, 0.4, 0.01, 0.02, 1.125, 1.5)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate_dataset(CONFIG, tmp_path_factory.mktemp("data") / dataset_id(CONFIG)).path


@pytest.fixture(scope="module")
def store(tmp_path_factory, dataset) -> FeatureStore:
    store = FeatureStore.at(tmp_path_factory.mktemp("store"))
    store.build(dataset)
    return store


def _planted_p_redeem(rows: np.ndarray) -> np.ndarray:
    """A deterministic p(redeem) that rises with the category share and falls with the discount's depth."""
    share = rows[:, PAIR_FEATURE_NAMES.index("category_share_365d")]
    discount = rows[:, PAIR_FEATURE_NAMES.index("discount_pct")]
    return np.clip(0.02 + 0.6 * share - 0.002 * discount, 0.001, 0.999)


@pytest.fixture(scope="module")
def margin_model() -> MarginModel:
    rng = np.random.default_rng(0)
    rows = rng.uniform(0, 1, (400, len(PAIR_FEATURE_NAMES))).astype(np.float32)
    anyway = AnywayModel().fit(rows, rows[:, 0] > 0.7)
    opt_out = OptOutModel().fit(rows, rows[:, 1] > 0.9)
    return MarginModel(anyway, opt_out, None, PlattRecalibration(1.2, 0.1), ECONOMICS)


def test_the_audience_is_every_member_in_contiguous_shards_with_their_eligible_pairs(dataset, store):
    audience = campaign_audience(dataset, store, "latest", 14, 4)
    assert audience.feature_version == store.resolve("latest") and audience.shards == [0, 1, 2, 3]
    members = store.get_online_frame()["customer_id"].to_numpy()
    assert audience.customers["customer_id"].tolist() == members.tolist()
    assert audience.customers[SHARD].is_monotonic_increasing  # whole, contiguous blocks of customers
    assert np.ptp(audience.customers[SHARD].value_counts().to_numpy()) <= 1  # of equal size
    expected = eligible_pairs(connect(dataset), members, pd.Timestamp(audience.as_of).to_pydatetime(), 14)
    pd.testing.assert_frame_equal(audience.pairs.drop(columns=SHARD), expected)
    shard_of = audience.customers.set_index("customer_id")[SHARD]
    assert (audience.pairs[SHARD].to_numpy() == shard_of.loc[audience.pairs["customer_id"]].to_numpy()).all()
    with pytest.raises(InvalidInputError, match="at least 1 shard"):
        campaign_audience(dataset, store, "latest", 14, 0)


def test_a_dataset_the_version_was_not_built_from_is_refused(store, tmp_path):
    other = GeneratorConfig(n_customers=300, n_days=90, seed=12)
    with pytest.raises(InvalidInputError, match="is not the one feature version"):
        campaign_audience(generate_dataset(other, tmp_path / "other").path, store, "latest", 14, 2)


def test_shards_decide_exactly_what_one_decision_over_every_pair_does(dataset, store, margin_model):
    audience = campaign_audience(dataset, store, "latest", 14, 3)

    def shard(k: int) -> pd.DataFrame:
        return score_shard(audience.pairs, k, store, audience.feature_version, _planted_p_redeem, margin_model, 97)

    whole = score_shard(audience.pairs.assign(**{SHARD: 0}), 0, store, audience.feature_version,
                        _planted_p_redeem, margin_model, 10_000)  # fmt: skip
    # the margin of each pair is the online chain's: MarginModel.margins of its feature rows
    rows = store.get_pair_features(whole["customer_id"], whole["offer_id"]).values
    p, terms = margin_model.margins(rows, _planted_p_redeem(rows))
    np.testing.assert_allclose(whole["expected_margin"], terms.expected_margin)
    np.testing.assert_allclose(whole["expected_cost"], p * terms.redemption_cost)
    unlimited = decide_scored([whole], audience.customers)
    limits = SendLimits(budget_eur=float(unlimited.loc[unlimited["send"], "expected_cost"].sum() / 3))
    one = decide_scored([whole], audience.customers, limits)
    empty = shard(3)  # a shard no customer fell into (more shards than customers) scores nothing
    assert empty.empty and list(empty.columns) == list(whole.columns)
    sharded = decide_scored([shard(2), shard(0), empty, shard(1)], audience.customers, limits)  # any order
    pd.testing.assert_frame_equal(sharded, one)
    assert sharded["customer_id"].tolist() == audience.customers["customer_id"].tolist()
    assert (sharded["reason"] == OVER_BUDGET).any()
    assert sharded.loc[sharded["send"], "expected_cost"].sum() <= limits.budget_eur


def test_decisions_cover_customers_without_an_eligible_offer_and_respect_the_cap():
    scored = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 3],
            "offer_id": [10, 11, 10, 12],
            "p_redeem": [0.1, 0.2, 0.3, 0.4],
            "expected_margin": [0.5, 0.9, 0.3, 0.7],
            "expected_cost": [1.0, 1.0, 1.0, 1.0],
        }
    )
    customers = pd.DataFrame({"customer_id": [1, 2, 3, 4], SHARD: [0, 0, 1, 1]})
    decided = decide_scored([scored.iloc[:3], scored.iloc[3:]], customers, SendLimits(contact_cap=2))
    assert decided["customer_id"].tolist() == [1, 2, 3, 4]
    assert decided["send"].tolist() == [True, False, True, False]
    assert decided["offer_id"].tolist()[0] == 11 and decided["p_redeem"].tolist()[0] == 0.2
    assert decided["reason"].tolist()[1] == OVER_CAP and decided["reason"].tolist()[3] == NO_ELIGIBLE_OFFER
    with pytest.raises(InvalidInputError, match="more than one shard"):
        decide_scored([scored, scored.iloc[:1]], customers)


def test_provenance_is_one_set_of_versions_for_every_shard():
    shard = {"model_uri": "models:/loyaltylens-propensity/3", "feature_version": "v0002", "margin_model": "m@1"}
    assert campaign_provenance([shard, dict(shard)]) == {
        "model_name": "loyaltylens-propensity",
        "model_version": "3",
        "feature_version": "v0002",
        "margin_model": "m@1",
    }
    with pytest.raises(InvalidInputError, match="2 different"):
        campaign_provenance([shard, {**shard, "feature_version": "v0003"}])


def test_score_pairs_keeps_the_pairs_order():
    rows = np.random.default_rng(1).uniform(0, 1, (5, len(PAIR_FEATURE_NAMES))).astype(np.float32)
    anyway = AnywayModel().fit(np.tile(rows, (40, 1)), np.tile([0, 1, 0, 1, 1], 40))
    model = MarginModel(anyway, never_opts_out(rows), None, None, ECONOMICS)
    pairs = pd.DataFrame({"customer_id": [5, 4, 3, 2, 1], "offer_id": [1, 2, 3, 4, 5]})
    scored = score_pairs(pairs, rows, np.full(5, 0.2), model)
    assert scored["customer_id"].tolist() == [5, 4, 3, 2, 1] and (scored["p_redeem"] == 0.2).all()


def test_a_campaign_refuses_a_model_version_without_a_margin_model(margin_model: MarginModel) -> None:
    assert require_margin_model(margin_model, "models:/loyaltylens-propensity/3") is margin_model
    with pytest.raises(NotFoundError, match="models:/loyaltylens-propensity/3 has no registered margin model"):
        require_margin_model(None, "models:/loyaltylens-propensity/3")
