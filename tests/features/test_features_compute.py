"""Point-in-time features: agreement with the simulator, no future leakage, defaults, labels, learnability."""

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from loyaltylens.data import load_table, read_manifest
from loyaltylens.data.schema import OFFER_CHANNELS
from loyaltylens.features.compute import (
    FEATURE_EXPRESSIONS,
    as_of_timestamp,
    compute_features,
    connect,
    snapshot_dates,
)
from loyaltylens.features.definitions import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    NUMERIC_FEATURES,
    OPEN_RATE_PRIOR,
    RECENCY_CAP_DAYS,
    REDEMPTION_RATE_PRIOR,
)
from loyaltylens.features.store import VersionInfo
from loyaltylens.groundtruth import attach_true_propensity
from loyaltylens.vocabulary import PRODUCT_CATEGORIES
from tests.features.planting import append_rows, purchase
from tests.features.snapshot_frame import TRAINING_COLUMNS, compute_training_frame

AS_OF = as_of_timestamp("2026-06-01")


def _offer_events(customer_id: int, ts: datetime) -> dict:
    return {
        "customer_id": [customer_id] * 3,
        "offer_id": [1] * 3,
        "assignment_id": [10**9] * 3,
        "ts": [ts, ts + timedelta(hours=1), ts + timedelta(hours=2)],
        "event_type": ["sent", "opened", "redeemed"],
    }


def test_every_feature_has_an_expression() -> None:
    assert set(FEATURE_EXPRESSIONS) == set(FEATURE_NAMES)


def test_features_are_in_definition_order_with_storage_types(dataset_dir: Path) -> None:
    features = compute_features(connect(dataset_dir), AS_OF)
    assert list(features.columns) == ["customer_id", *FEATURE_NAMES]
    assert all(features[name].dtype == np.float32 for name in NUMERIC_FEATURES)
    assert all(features[name].dtype == np.int16 for name in CATEGORICAL_FEATURES)
    assert features["customer_id"].is_monotonic_increasing


def test_simulator_propensity_is_not_a_function_of_these_features(dataset_dir: Path) -> None:
    """The hidden p_redeem comes from latent state (engagement, fatigue, traits) that the features only see
    through noisy windows: a linear model of its logit on the send-time features and the offer's attributes
    explains a part of it, far from all of it (the v1 simulator was reproduced to 3e-8)."""
    manifest = read_manifest(dataset_dir)
    truth = load_table(dataset_dir, "assignments_truth")
    offers = load_table(dataset_dir, "offers").set_index("offer_id")
    con = connect(dataset_dir)
    rows = []
    for campaign_id in range(8, len(manifest["period"]["campaign_dates"]) + 1, 4):
        send_date = as_of_timestamp(manifest["period"]["campaign_dates"][campaign_id - 1])
        assignments = truth[truth["campaign_id"] == campaign_id]
        state = compute_features(con, send_date).set_index("customer_id").loc[assignments["customer_id"]]
        offer = offers.loc[assignments["offer_id"]]
        rows.append(
            state.reset_index(drop=True).assign(
                discount_pct=offer["discount_pct"].to_numpy(),
                min_spend=offer["min_spend"].to_numpy(),
                offer_channel=offer["channel"].map(OFFER_CHANNELS.index).to_numpy(),
                offer_category=offer["category"].map(PRODUCT_CATEGORIES.index).to_numpy(),
                logit=np.log(assignments["p_redeem"] / (1 - assignments["p_redeem"])).to_numpy(),
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    categorical = [*CATEGORICAL_FEATURES, "offer_channel", "offer_category"]
    numeric = [*NUMERIC_FEATURES, "discount_pct", "min_spend"]
    model = make_pipeline(
        ColumnTransformer(
            [
                ("numeric", StandardScaler(), numeric),
                ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
            ]
        ),
        LinearRegression(),
    )
    logged = frame.assign(**{n: np.log1p(frame[n]) for n in NUMERIC_FEATURES})
    r_squared = model.fit(logged, frame["logit"]).score(logged, frame["logit"])
    assert 0.2 < r_squared < 0.8


def test_planted_future_events_do_not_change_features(dataset_dir: Path, dataset_copy: Path) -> None:
    before = compute_features(connect(dataset_dir), AS_OF)
    customer = int(before["customer_id"].iloc[10])
    append_rows(dataset_copy, "transactions", purchase(customer, AS_OF))  # exactly at as-of: not before it
    append_rows(dataset_copy, "transactions", purchase(customer, AS_OF + timedelta(days=3)))
    append_rows(dataset_copy, "offer_events", _offer_events(customer, AS_OF))
    after = compute_features(connect(dataset_copy), AS_OF)
    pd.testing.assert_frame_equal(before, after)


def test_event_just_before_as_of_changes_features(dataset_dir: Path, dataset_copy: Path) -> None:
    before = compute_features(connect(dataset_dir), AS_OF).set_index("customer_id")
    customer = int(before.index[10])
    append_rows(dataset_copy, "transactions", purchase(customer, AS_OF - timedelta(seconds=1), amount=40.0))
    append_rows(dataset_copy, "offer_events", _offer_events(customer, AS_OF - timedelta(hours=3)))
    after = compute_features(connect(dataset_copy), AS_OF).set_index("customer_id")

    changed = after.loc[customer]
    assert changed["recency_days"] == pytest.approx(1 / 86_400, abs=1e-6)
    assert changed["frequency_30d"] == before.loc[customer, "frequency_30d"] + 1
    assert changed["monetary_90d"] == pytest.approx(before.loc[customer, "monetary_90d"] + 40.0, rel=1e-5)
    assert changed["offers_received_180d"] == before.loc[customer, "offers_received_180d"] + 1
    assert changed["offers_received_30d"] == before.loc[customer, "offers_received_30d"] + 1
    assert changed["days_since_last_offer"] == pytest.approx(3 / 24, abs=1e-5)
    assert changed["days_since_last_redemption"] == pytest.approx(1 / 24, abs=1e-5)
    pd.testing.assert_frame_equal(before.drop(index=customer), after.drop(index=customer))


def _plant_newcomer(dataset: Path, joined_days_before: int) -> int:
    """A new premium web member who joined ``joined_days_before`` days before as-of, with no events; their id."""
    newcomer = int(load_table(dataset, "customers")["customer_id"].max()) + 1
    append_rows(
        dataset,
        "customers",
        {
            "customer_id": [newcomer],
            "segment": ["premium"],
            "channel_preference": ["web"],
            "has_app": [False],
            "signup_date": [(AS_OF - timedelta(days=joined_days_before)).date()],
        },
    )
    return newcomer


def test_customer_without_events_gets_defaults(dataset_copy: Path) -> None:
    newcomer = _plant_newcomer(dataset_copy, joined_days_before=10)
    row = compute_features(connect(dataset_copy), AS_OF).set_index("customer_id").loc[newcomer]
    assert row["recency_days"] == RECENCY_CAP_DAYS and row["days_since_last_redemption"] == RECENCY_CAP_DAYS
    assert row["frequency_30d"] == row["monetary_90d"] == row["avg_basket_90d"] == row["avg_basket_365d"] == 0
    assert row["offers_received_180d"] == row["offers_received_30d"] == 0
    assert row["days_since_last_offer"] == RECENCY_CAP_DAYS
    assert row["offer_redemption_rate"] == pytest.approx(REDEMPTION_RATE_PRIOR)
    assert row["engagement_score"] == pytest.approx(OPEN_RATE_PRIOR)
    assert row["favorite_category"] == 0 and row["tenure_days"] == 10
    assert (row["segment"], row["channel_preference"]) == (1, 2)  # premium, web


def test_basket_windows_count_purchases_by_age(dataset_copy: Path) -> None:
    member = _plant_newcomer(dataset_copy, joined_days_before=500)
    for days_before, amount in ((10, 50.0), (200, 30.0), (400, 1000.0)):  # in both windows, the year's, neither
        append_rows(dataset_copy, "transactions", purchase(member, AS_OF - timedelta(days=days_before), amount))
    row = compute_features(connect(dataset_copy), AS_OF).set_index("customer_id").loc[member]
    assert row["avg_basket_90d"] == pytest.approx(50.0)
    assert row["avg_basket_365d"] == pytest.approx(40.0)


def test_customers_who_have_not_joined_yet_have_no_row(dataset_dir: Path) -> None:
    customers = load_table(dataset_dir, "customers")
    features = compute_features(connect(dataset_dir), AS_OF)
    assert set(features["customer_id"]) == set(customers.loc[customers["signup_date"] < AS_OF, "customer_id"])


@pytest.fixture(scope="module")
def customer_frame(dataset_dir: Path, built_version: VersionInfo) -> pd.DataFrame:
    """The customer-level training frame (one row per member and snapshot) at the built version's snapshots."""
    snapshots = snapshot_dates(dataset_dir, as_of_timestamp(built_version.as_of), 14)
    return compute_training_frame(connect(dataset_dir), snapshots, label_window_days=14)


def test_training_frame_layout_and_snapshots(customer_frame: pd.DataFrame, built_version: VersionInfo) -> None:
    frame = customer_frame
    assert tuple(frame.columns) == TRAINING_COLUMNS
    snapshots = pd.to_datetime(sorted(frame["as_of"].unique()))
    start, as_of = pd.Timestamp("2025-11-01"), pd.Timestamp(built_version.as_of)
    assert snapshots.min() >= start + pd.Timedelta(days=90)
    assert snapshots.max() + pd.Timedelta(days=14) <= as_of
    assert [d.date().isoformat() for d in snapshots] == built_version.metadata["snapshots"]
    assert "true_propensity" not in frame.columns  # the hidden truth stays in the dataset's sidecar
    assert not (frame["label"] & ~frame["treated_in_window"]).any()  # only a sent offer can be redeemed


def test_evaluation_attaches_the_hidden_truth_from_the_sidecar(customer_frame: pd.DataFrame, dataset_dir: Path) -> None:
    frame = attach_true_propensity(customer_frame, dataset_dir, label_window_days=14)
    assert frame[~frame["treated_in_window"]]["true_propensity"].isna().all()
    assert frame[frame["treated_in_window"]]["true_propensity"].between(0, 1).all()


def test_labels_are_the_redemptions_in_the_window(dataset_dir: Path, customer_frame: pd.DataFrame) -> None:
    frame = customer_frame
    snapshot = frame["as_of"].max()
    events = load_table(dataset_dir, "offer_events")
    in_window = (events["ts"] >= snapshot) & (events["ts"] < snapshot + pd.Timedelta(days=14))
    redeemed = events[in_window & (events["event_type"] == "redeemed")]
    rows = frame[frame["as_of"] == snapshot]
    assert set(rows.loc[rows["label"], "customer_id"]) == set(redeemed["customer_id"])


def test_ground_truth_is_learnable_from_the_features(customer_frame: pd.DataFrame, dataset_dir: Path) -> None:
    frame = attach_true_propensity(customer_frame, dataset_dir, label_window_days=14)
    frame = frame[frame["treated_in_window"]]
    cutoff = frame["as_of"].quantile(0.7)
    train, test = frame[frame["as_of"] < cutoff], frame[frame["as_of"] >= cutoff]
    model = make_pipeline(
        ColumnTransformer(
            [
                ("numeric", StandardScaler(), list(NUMERIC_FEATURES)),
                ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
            ]
        ),
        LogisticRegression(max_iter=1_000),
    )
    log_features = lambda df: df.assign(**{n: np.log1p(df[n]) for n in NUMERIC_FEATURES})  # noqa: E731
    model.fit(log_features(train), train["label"])
    auc = roc_auc_score(test["label"], model.predict_proba(log_features(test))[:, 1])
    oracle = roc_auc_score(test["label"], test["true_propensity"])
    assert auc > 0.6
    assert oracle > auc + 0.05  # the truth knows the latent state and the offer the features only hint at
