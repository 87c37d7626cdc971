"""Offer-aware pair features: point in time, hand-checked affinities, one call for many pairs, labels per offer."""

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loyaltylens.data import load_table
from loyaltylens.errors import NotFoundError
from loyaltylens.features.compute import as_of_timestamp, connect, snapshot_dates
from loyaltylens.features.definitions import (
    MIN_SPEND_RATIO_CAP,
    PAIR_FEATURE_NAMES,
    PAIR_FEATURES,
    RECENCY_CAP_DAYS,
)
from loyaltylens.features.pairs import (
    PAIR_TRAINING_COLUMNS,
    build_pair_index,
    compute_pair_features,
    compute_pair_training_frame,
)
from loyaltylens.vocabulary import validate_matrix
from tests.features.planting import append_rows, purchase

AS_OF = as_of_timestamp("2026-06-01")


@pytest.fixture(scope="module")
def index(dataset_dir: Path):
    return build_pair_index(connect(dataset_dir), AS_OF)


def _all_pairs(index, customers: int = 50) -> pd.DataFrame:
    customer_ids = index.customer_ids[:customers]
    return pd.DataFrame(
        {
            "customer_id": np.repeat(customer_ids, len(index.offer_ids)),
            "offer_id": np.tile(index.offer_ids, len(customer_ids)),
        }
    )


def test_pair_rows_follow_the_contract_and_are_valid(index) -> None:
    pairs = _all_pairs(index)
    matrix = index.lookup(pairs["customer_id"], pairs["offer_id"])
    assert matrix.shape == (len(pairs), len(PAIR_FEATURE_NAMES)) and matrix.dtype == np.float32
    validate_matrix(PAIR_FEATURES, matrix, "pair features")
    # The same customer gets different rows for different offers, and its customer part never changes.
    one = matrix[: len(index.offer_ids)]
    n_customer = PAIR_FEATURE_NAMES.index("discount_pct")
    assert (one[:, :n_customer] == one[0, :n_customer]).all()
    assert len(np.unique(one[:, n_customer:], axis=0)) > 0.9 * len(index.offer_ids)


def test_affinities_match_a_hand_computation(dataset_dir: Path, index) -> None:
    transactions = load_table(dataset_dir, "transactions")
    offers = load_table(dataset_dir, "offers").set_index("offer_id")
    customers = load_table(dataset_dir, "customers").set_index("customer_id")
    past = transactions[transactions["ts"] < AS_OF]
    year = past[past["ts"] >= AS_OF - timedelta(days=365)]
    rng = np.random.default_rng(0)
    customer_ids = rng.choice(index.customer_ids, 40)
    offer_ids = rng.choice(index.offer_ids, 40)
    rows = pd.DataFrame(index.lookup(customer_ids, offer_ids), columns=list(PAIR_FEATURE_NAMES))
    for i, (customer, offer) in enumerate(zip(customer_ids, offer_ids, strict=True)):
        category = offers.loc[offer, "category"]
        mine = year[year["customer_id"] == customer]
        share = ((mine["category"] == category).sum() + 0.2) / (len(mine) + 2)
        assert rows.loc[i, "category_share_365d"] == pytest.approx(share, rel=1e-5)
        bought = past[(past["customer_id"] == customer) & (past["category"] == category)]["ts"]
        days = (AS_OF - bought.max()).total_seconds() / 86400 if len(bought) else RECENCY_CAP_DAYS
        assert rows.loc[i, "days_since_category_purchase"] == pytest.approx(min(days, RECENCY_CAP_DAYS), rel=1e-5)
        channel = offers.loc[offer, "channel"]
        expected_match = 0.5 if channel == "any" else float(channel == customers.loc[customer, "channel_preference"])
        assert rows.loc[i, "channel_match"] == expected_match
        assert rows.loc[i, "discount_pct"] == offers.loc[offer, "discount_pct"]
        basket = mine["amount"].mean() if len(mine) else 0.0  # a year's basket, not 90 days'
        ratio = offers.loc[offer, "min_spend"] / basket if basket > 0 else MIN_SPEND_RATIO_CAP
        assert rows.loc[i, "min_spend_ratio"] == pytest.approx(min(ratio, MIN_SPEND_RATIO_CAP), rel=1e-5)


def test_planted_future_events_do_not_change_pair_features(dataset_dir: Path, dataset_copy: Path, index) -> None:
    pairs = _all_pairs(index, customers=5)
    customer = int(pairs["customer_id"].iloc[0])
    offer = load_table(dataset_dir, "offers").iloc[0]
    append_rows(
        dataset_copy, "transactions", purchase(customer, AS_OF, amount=30.0, category=offer["category"])
    )  # at as-of: not before
    append_rows(
        dataset_copy,
        "transactions",
        purchase(customer, AS_OF + timedelta(days=3), amount=30.0, category=offer["category"]),
    )
    append_rows(
        dataset_copy,
        "offer_events",
        {
            "customer_id": [customer] * 2,
            "offer_id": [int(offer["offer_id"])] * 2,
            "assignment_id": [10**9] * 2,
            "ts": [AS_OF + timedelta(hours=1), AS_OF + timedelta(hours=2)],
            "event_type": ["sent", "redeemed"],
        },
    )
    before = compute_pair_features(connect(dataset_dir), AS_OF, pairs)
    after = compute_pair_features(connect(dataset_copy), AS_OF, pairs)
    pd.testing.assert_frame_equal(before, after)


def test_a_purchase_just_before_as_of_changes_the_category_features(
    dataset_dir: Path, dataset_copy: Path, index
) -> None:
    offer = load_table(dataset_dir, "offers").iloc[0]
    customer = int(index.customer_ids[3])
    append_rows(
        dataset_copy,
        "transactions",
        purchase(customer, AS_OF - timedelta(hours=12), amount=30.0, category=offer["category"]),
    )
    pairs = pd.DataFrame({"customer_id": [customer], "offer_id": [int(offer["offer_id"])]})
    before = compute_pair_features(connect(dataset_dir), AS_OF, pairs).iloc[0]
    after = compute_pair_features(connect(dataset_copy), AS_OF, pairs).iloc[0]
    assert after["days_since_category_purchase"] == pytest.approx(0.5)
    assert after["category_share_365d"] > before["category_share_365d"]
    assert after["frequency_30d"] == before["frequency_30d"] + 1


def test_unknown_customers_and_offers_are_not_found(index) -> None:
    with pytest.raises(NotFoundError, match="customer"):
        index.lookup([10**9], [int(index.offer_ids[0])])
    with pytest.raises(NotFoundError, match="offer"):
        index.lookup([int(index.customer_ids[0])], [10**9])


def test_pair_training_rows_are_the_treated_assignments_with_their_own_label(dataset_dir: Path) -> None:
    con = connect(dataset_dir)
    snapshots = snapshot_dates(dataset_dir, as_of_timestamp("2026-11-01"), 14)[-3:]
    frame = compute_pair_training_frame(con, snapshots, 14)
    assert tuple(frame.columns) == PAIR_TRAINING_COLUMNS
    campaigns = load_table(dataset_dir, "campaigns")
    sent = campaigns[campaigns["treated"] & campaigns["sent_ts"].dt.normalize().isin(snapshots)]
    assert set(frame["assignment_id"]) == set(sent["assignment_id"])
    events = load_table(dataset_dir, "offer_events")
    redeemed = set(events.loc[events["event_type"] == "redeemed", "assignment_id"])
    assert (frame["label"] == frame["assignment_id"].isin(redeemed)).all()
    assert 0.01 < frame["label"].mean() < 0.1
