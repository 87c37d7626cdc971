"""Generator behaviour: determinism, population shares, calendar and segment patterns, campaign design."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loyaltylens.data import (
    GeneratorConfig,
    dataset_id,
    generate_customers,
    generate_dataset,
    load_table,
    read_manifest,
)
from loyaltylens.data.behaviour import SEGMENT_PROFILES
from loyaltylens.data.schema import EVENT_TYPES, TABLES, TRUTH_TABLES, table_relpath
from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.vocabulary import PRODUCT_CATEGORIES, SEGMENT_SHARES, SEGMENTS

TINY = GeneratorConfig(n_customers=400, n_days=120, seed=3)


def test_same_seed_gives_byte_identical_tables(tmp_path: Path) -> None:
    first = generate_dataset(TINY, tmp_path / "a")
    second = generate_dataset(TINY, tmp_path / "b")
    for name in TABLES + TRUTH_TABLES:
        relpath = table_relpath(name)
        assert (first.path / relpath).read_bytes() == (second.path / relpath).read_bytes(), name
    assert first.manifest["content_hash"] == second.manifest["content_hash"]


def test_different_seed_gives_different_data(tmp_path: Path) -> None:
    first = generate_dataset(TINY, tmp_path / "a")
    other = generate_dataset(dataclasses.replace(TINY, seed=4), tmp_path / "b")
    assert first.manifest["content_hash"] != other.manifest["content_hash"]
    assert not load_table(first.path, "transactions")["amount"].equals(
        load_table(other.path, "transactions")["amount"]
    )


@pytest.mark.parametrize("n_customers", [50_000, 20_001, 37])
def test_segment_shares_hold_exactly_by_quota(n_customers: int) -> None:
    customers = generate_customers(GeneratorConfig(n_customers=n_customers))
    shares = customers["segment"].value_counts(normalize=True)
    for segment, target in zip(SEGMENTS, SEGMENT_SHARES, strict=True):
        assert abs(shares.get(segment, 0.0) - target) <= max(0.01, 1.0 / n_customers), segment
    assert customers["customer_id"].tolist() == list(range(1, n_customers + 1))


def test_customers_table_of_generate_customers_matches_the_dataset(small_dataset: Path) -> None:
    config = GeneratorConfig(**read_manifest(small_dataset)["config"])
    pd.testing.assert_frame_equal(generate_customers(config), load_table(small_dataset, "customers"))


def test_channel_preference_depends_on_segment() -> None:
    customers = generate_customers(GeneratorConfig(n_customers=20_000))
    mix = pd.crosstab(customers["segment"], customers["channel_preference"], normalize="index")
    assert mix.loc["horeca", "in_store"] > 0.65
    assert mix.loc["family", "mobile"] > mix.loc["horeca", "mobile"] + 0.2
    assert mix.loc["premium", "web"] > mix.loc["budget", "web"] + 0.1


def test_most_customers_joined_before_the_start(small_dataset: Path, small_config: GeneratorConfig) -> None:
    customers = load_table(small_dataset, "customers")
    before = (customers["signup_date"] < pd.Timestamp(small_config.start_date)).mean()
    assert 0.75 < before < 0.95


def _daily_purchases(dataset: Path) -> pd.Series:
    transactions = load_table(dataset, "transactions")
    period = read_manifest(dataset)["period"]
    days = pd.date_range(period["start_date"], period["end_date"], freq="D", inclusive="left")
    return transactions["ts"].dt.normalize().value_counts().reindex(days, fill_value=0)


def test_weekends_are_busier_than_weekdays(small_dataset: Path) -> None:
    daily = _daily_purchases(small_dataset)
    weekday = daily.index.dayofweek
    assert daily[weekday == 5].mean() > 1.2 * daily[weekday < 4].mean()  # Saturday vs Monday-Thursday
    assert daily[weekday >= 5].mean() > daily[weekday < 5].mean()


def test_december_is_busier_than_summer(small_dataset: Path) -> None:
    daily = _daily_purchases(small_dataset)
    assert daily[daily.index.month == 12].mean() > 1.3 * daily[daily.index.month.isin([7, 8])].mean()


def test_segments_shop_with_their_profiles(small_dataset: Path) -> None:
    transactions = load_table(small_dataset, "transactions").merge(
        load_table(small_dataset, "customers")[["customer_id", "segment"]], on="customer_id"
    )
    basket = transactions.groupby("segment")["amount"].median()
    trips = (
        transactions.groupby("segment").size()
        / load_table(small_dataset, "customers")["segment"].value_counts()
    )
    assert basket["premium"] > 2 * basket["budget"] and basket["horeca"] > basket["family"] > basket["budget"]
    assert trips["budget"] > 2 * trips["premium"] and trips["horeca"] > trips["premium"]


def test_churned_customers_stop_buying(small_dataset: Path, small_config: GeneratorConfig) -> None:
    truth = load_table(small_dataset, "customers_truth")
    churned = truth.dropna(subset=["churn_day"])
    assert 0.2 < len(churned) / len(truth) < 0.4
    churn_ts = pd.Timestamp(small_config.start_date) + pd.to_timedelta(churned["churn_day"], unit="D")
    last_purchase = (
        load_table(small_dataset, "transactions")
        .query("offer_id.isna()", engine="python")  # an offer can still pull a churned customer back once
        .groupby("customer_id")["ts"]
        .max()
    )
    after = last_purchase.reindex(churned["customer_id"]).to_numpy() >= churn_ts.to_numpy()
    assert not after.any()


def test_campaigns_hold_out_ten_percent_and_target_thirty(
    small_dataset: Path, small_config: GeneratorConfig
) -> None:
    campaigns = load_table(small_dataset, "campaigns")
    assert abs((~campaigns["treated"]).mean() - small_config.holdout_share) < 0.01
    per_campaign = campaigns.groupby("campaign_id").size() / small_config.n_customers
    assert per_campaign.between(0.2, 0.32).all()  # 30% of members; early on not everyone has joined


def test_logging_probability_is_the_random_policy(small_dataset: Path, small_config: GeneratorConfig) -> None:
    campaigns = load_table(small_dataset, "campaigns")
    arm = np.where(campaigns["treated"], 1 - small_config.holdout_share, small_config.holdout_share)
    pool_size = 1.0 / (campaigns["logging_probability"] / (small_config.target_share * arm))
    assert (
        np.allclose(pool_size, np.round(pool_size)) and (pool_size >= 1).all()
    )  # 1 / number of eligible offers


def test_held_out_assignments_get_no_events(small_dataset: Path) -> None:
    events = load_table(small_dataset, "offer_events").merge(
        load_table(small_dataset, "campaigns")[["assignment_id", "treated"]], on="assignment_id"
    )
    assert events["treated"].all()
    assert set(events["event_type"]) == set(EVENT_TYPES)


def test_redemptions_match_the_potential_outcome_of_treated_assignments(small_dataset: Path) -> None:
    truth = load_table(small_dataset, "assignments_truth")
    redeemed = set(
        load_table(small_dataset, "offer_events").query("event_type == 'redeemed'")["assignment_id"]
    )
    treated = truth[truth["treated"]]
    assert (treated["assignment_id"].isin(redeemed) == treated["redeemed_if_treated"]).all()
    held_out = truth[~truth["treated"]]
    assert not held_out["assignment_id"].isin(redeemed).any()
    assert held_out["redeemed_if_treated"].any()  # the potential outcome exists for held-out rows too
    assert (truth["bought_if_treated"] >= truth["bought_if_control"]).all()
    assert (truth["spend_if_treated"] >= truth["spend_if_control"]).all()


def test_redemption_purchases_carry_the_offer(small_dataset: Path) -> None:
    transactions = load_table(small_dataset, "transactions")
    redemptions = transactions.dropna(subset=["offer_id"])
    offers = load_table(small_dataset, "offers").set_index("offer_id")
    assert (
        redemptions["category"].to_numpy() == offers.loc[redemptions["offer_id"], "category"].to_numpy()
    ).all()
    assert (
        redemptions["amount"].to_numpy() >= offers.loc[redemptions["offer_id"], "min_spend"].to_numpy()
    ).all()


def test_truth_signal_is_strong_but_not_perfect(small_dataset: Path) -> None:
    truth = read_manifest(small_dataset)["truth_summary"]
    assert 0.75 < truth["oracle_auc"] < 0.92


def test_offer_texts_are_varied_and_descriptive(small_dataset: Path, small_config: GeneratorConfig) -> None:
    offers = load_table(small_dataset, "offers")
    assert len(offers) == small_config.n_offers
    assert offers["text"].nunique() > 0.9 * len(offers)
    assert offers["text"].str.contains("%").all()
    assert set(offers["category"]) == set(PRODUCT_CATEGORIES)
    assert (offers["end_date"] >= offers["start_date"]).all()


def test_failed_generation_leaves_no_partial_dataset(tmp_path: Path) -> None:
    target = tmp_path / "ds"

    def crash(message: str, fraction: float) -> None:
        if message.startswith("customers 1-"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_dataset(TINY, target, progress=crash)
    assert list(tmp_path.iterdir()) == []


def test_regenerating_replaces_the_dataset(tmp_path: Path) -> None:
    target = tmp_path / "ds"
    generate_dataset(TINY, target)
    info = generate_dataset(dataclasses.replace(TINY, seed=9), target)
    assert info.manifest["config"]["seed"] == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_dataset_id_is_readable_and_encodes_other_fields() -> None:
    assert dataset_id(GeneratorConfig()) == "seed42-c50000-d365"
    other = dataset_id(GeneratorConfig(holdout_share=0.2))
    assert other.startswith("seed42-c50000-d365-") and other == dataset_id(GeneratorConfig(holdout_share=0.2))


@pytest.mark.parametrize(
    "overrides", [{"holdout_share": 1.5}, {"n_customers": 0}, {"n_days": 20}, {"start_date": "soon"}]
)
def test_bad_config_is_rejected(overrides: dict) -> None:
    with pytest.raises(InvalidInputError):
        GeneratorConfig(**overrides)


def test_load_table_errors_name_the_problem(small_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="tables are customers"):
        load_table(small_dataset, "purchases")
    with pytest.raises(NotFoundError, match="loyaltylens data generate"):
        load_table(tmp_path, "customers")


def test_segment_profiles_cover_the_vocabulary() -> None:
    assert tuple(SEGMENT_PROFILES) == SEGMENTS
    assert all(len(p.category_weights) == len(PRODUCT_CATEGORIES) for p in SEGMENT_PROFILES.values())
