"""Simulator v2: realistic redemption rates, real economics, a balanced random hold-out, truth for every pair."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset, load_table, read_manifest

# Big enough that the hold-out arm has thousands of rows (the SMD of a fair coin is then ~0.015).
BALANCE_CONFIG = GeneratorConfig(n_customers=15_000, n_days=180, seed=5)


@pytest.fixture(scope="module")
def balance_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset(BALANCE_CONFIG, tmp_path_factory.mktemp("ds") / dataset_id(BALANCE_CONFIG)).path


def _treated_truth(dataset: Path) -> pd.DataFrame:
    truth = load_table(dataset, "assignments_truth")
    customers = load_table(dataset, "customers")[["customer_id", "segment", "channel_preference"]]
    offers = load_table(dataset, "offers")[["offer_id", "discount_pct", "channel"]]
    return (
        truth[truth["treated"]]
        .merge(customers, on="customer_id")
        .merge(offers.rename(columns={"channel": "offer_channel"}), on="offer_id")
    )


def test_redemption_rate_per_send_is_realistic(small_dataset: Path) -> None:
    treated = _treated_truth(small_dataset)
    assert 0.02 <= treated["redeemed_if_treated"].mean() <= 0.08
    assert read_manifest(small_dataset)["truth_summary"]["redemption_rate"] == pytest.approx(
        treated["redeemed_if_treated"].mean()
    )


def test_redemption_rates_differ_by_segment_offer_and_channel(small_dataset: Path) -> None:
    treated = _treated_truth(small_dataset)
    by_segment = treated.groupby("segment")["p_redeem"].mean()
    assert by_segment.max() > 1.5 * by_segment.min()
    by_discount = treated.groupby("discount_pct")["p_redeem"].mean()
    assert by_discount[40] > 2 * by_discount[5]
    single_channel = treated[treated["offer_channel"] != "any"]
    matches = single_channel["offer_channel"] == single_channel["channel_preference"]
    assert single_channel.loc[matches, "p_redeem"].mean() > 1.5 * single_channel.loc[~matches, "p_redeem"].mean()


def test_true_incremental_margin_can_be_negative_so_sending_everyone_is_not_optimal(small_dataset: Path) -> None:
    truth = load_table(small_dataset, "assignments_truth")
    assert (truth["incremental_margin"] < 0).mean() > 0.2
    assert (truth["incremental_margin"] > 0).mean() > 0.1
    pairs = load_table(small_dataset, "pair_truth")
    best = pairs.loc[pairs.groupby(["campaign_id", "customer_id"])["incremental_margin"].idxmax()]
    assert 0.1 < (best["incremental_margin"] <= 0).mean() < 0.9  # for some customers no offer pays
    deepest = load_table(small_dataset, "offers")["discount_pct"].max()
    best_discount = best.merge(load_table(small_dataset, "offers"), on="offer_id")["discount_pct"]
    assert (best_discount == deepest).mean() < 0.6


def test_some_redemptions_only_discount_a_purchase_made_anyway(small_dataset: Path) -> None:
    truth = load_table(small_dataset, "assignments_truth")
    redeemed = truth[truth["treated"] & truth["redeemed_if_treated"]]
    subsidised = redeemed[redeemed["subsidised"]]
    assert 0.1 < len(subsidised) / len(redeemed) < 0.9
    assert not truth.loc[~truth["redeemed_if_treated"], "subsidised"].any()
    extra = subsidised["spend_if_treated"] - subsidised["spend_if_control"]
    full = redeemed[~redeemed["subsidised"]]
    assert extra.mean() < 0.5 * (full["spend_if_treated"] - full["spend_if_control"]).mean()
    # A subsidised redemption is a purchase the customer made anyway: it carries the offer, no extra row.
    transactions = load_table(small_dataset, "transactions").dropna(subset=["offer_id"])
    events = load_table(small_dataset, "offer_events")
    assert len(transactions) == (events["event_type"] == "redeemed").sum()


def test_opted_out_customers_get_no_later_offers(small_dataset: Path) -> None:
    events = load_table(small_dataset, "offer_events")
    opted_out = events[events["event_type"] == "unsubscribed"].groupby("customer_id")["ts"].min()
    assert len(opted_out) > 0
    campaigns = load_table(small_dataset, "campaigns")
    later = campaigns.merge(opted_out.rename("opted_out_ts"), on="customer_id")
    assert not (later["sent_ts"] > later["opted_out_ts"]).any()


def test_hold_out_is_balanced_on_covariates(balance_dataset: Path) -> None:
    """Standardised mean differences between arms stay below 0.05 for customer traits and offer attributes."""
    campaigns = load_table(balance_dataset, "campaigns")
    traits = load_table(balance_dataset, "customers_truth").drop(columns=["churn_day"])
    customers = load_table(balance_dataset, "customers")
    offers = load_table(balance_dataset, "offers")[["offer_id", "discount_pct", "min_spend", "bonus_points"]]
    rows = campaigns.merge(traits, on="customer_id").merge(offers, on="offer_id").merge(customers, on="customer_id")
    covariates = rows.drop(columns=["assignment_id", "customer_id", "offer_id", "sent_ts", "treated"]).assign(
        has_app=rows["has_app"].astype(float),
        **{f"segment_{s}": (rows["segment"] == s).astype(float) for s in customers["segment"].unique()},
    )
    covariates = covariates.select_dtypes("number").drop(columns=["logging_probability"])
    treated, held_out = covariates[rows["treated"]], covariates[~rows["treated"]]
    assert len(held_out) > 2_000
    pooled_sd = np.sqrt((treated.var() + held_out.var()) / 2)
    smd = ((treated.mean() - held_out.mean()) / pooled_sd).abs()
    assert smd.max() < 0.05, smd.sort_values().tail()
    assert abs((~campaigns["treated"]).mean() - BALANCE_CONFIG.holdout_share) < 0.01


def test_pair_truth_covers_every_eligible_offer_and_agrees_with_the_assignments(small_dataset: Path) -> None:
    config = GeneratorConfig(**read_manifest(small_dataset)["config"])
    pairs = load_table(small_dataset, "pair_truth")
    campaigns = load_table(small_dataset, "campaigns")
    last = campaigns["campaign_id"].max()
    assert set(pairs["campaign_id"]) == set(range(last - config.pair_truth_campaigns + 1, last + 1))
    assert not pairs.duplicated(["campaign_id", "customer_id", "offer_id"]).any()
    assigned = campaigns[campaigns["campaign_id"].isin(pairs["campaign_id"])].merge(
        load_table(small_dataset, "assignments_truth")[["assignment_id", "p_redeem", "incremental_margin"]],
        on="assignment_id",
    )
    joined = assigned.merge(pairs, on=["campaign_id", "customer_id", "offer_id"], suffixes=("", "_pair"))
    assert len(joined) == len(assigned)  # the offer each customer got is one of their eligible offers
    np.testing.assert_allclose(joined["p_redeem_pair"], joined["p_redeem"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(joined["incremental_margin_pair"], joined["incremental_margin"], rtol=1e-4, atol=1e-4)
    # The pool is the offer's eligibility: each customer's pair count is the inverse of the offer choice share.
    per_customer = pairs.groupby(["campaign_id", "customer_id"]).size().rename("pool")
    pool = assigned.merge(per_customer, on=["campaign_id", "customer_id"])
    arm = np.where(pool["treated"], 1 - config.holdout_share, config.holdout_share)
    np.testing.assert_allclose(pool["logging_probability"], config.target_share * arm / pool["pool"])


def test_picking_the_best_offer_beats_a_random_one(small_dataset: Path) -> None:
    pairs = load_table(small_dataset, "pair_truth")
    by_customer = pairs.groupby(["campaign_id", "customer_id"])["p_redeem"]
    assert by_customer.max().mean() > 2 * pairs["p_redeem"].mean()


def test_truth_spend_agrees_with_the_public_transactions_in_both_arms(small_dataset: Path) -> None:
    """Each assignment's spend in its label window, summed from the public transactions, is the truth's spend of
    the arm it was in: ``spend_if_treated`` for sends (subsidised top-ups included), ``spend_if_control`` for
    the hold-out. Campaigns are ``label_window_days`` apart, so windows of one customer do not overlap."""
    config = GeneratorConfig(**read_manifest(small_dataset)["config"])
    assert config.campaign_every_days >= config.label_window_days
    truth = load_table(small_dataset, "assignments_truth")
    campaigns = load_table(small_dataset, "campaigns")[["assignment_id", "sent_ts"]]
    rows = truth.merge(campaigns, on="assignment_id")
    transactions = load_table(small_dataset, "transactions")[["customer_id", "ts", "amount"]]
    joined = rows[["assignment_id", "customer_id", "sent_ts"]].merge(transactions, on="customer_id")
    in_window = (joined["ts"] >= joined["sent_ts"]) & (
        joined["ts"] < joined["sent_ts"] + pd.Timedelta(days=config.label_window_days)
    )
    public = joined[in_window].groupby("assignment_id")["amount"].sum()
    rows["public_spend"] = rows["assignment_id"].map(public).fillna(0.0)
    rows["truth_spend"] = np.where(rows["treated"], rows["spend_if_treated"], rows["spend_if_control"])
    subsidised = rows[rows["treated"] & rows["subsidised"]]
    assert len(subsidised) > 20 and (subsidised["spend_if_treated"] > subsidised["spend_if_control"]).any()
    for arm in (True, False):
        arm_rows = rows[rows["treated"] == arm]
        assert len(arm_rows) > 100
        np.testing.assert_allclose(arm_rows["truth_spend"], arm_rows["public_spend"], atol=0.02)
