"""Batch decisions for a campaign from the public tables: the eligible (customer, offer) pairs, their expected
incremental margin and the send decision. The learnable parts are fitted on logs before the campaign only:
the anyway model on hold-out assignments, the redeemers' anyway shift and the opt-out model on sends."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from loyaltylens.data.io import load_table
from loyaltylens.decision.margin import AnywayModel, Economics, OptOutModel, redeemer_anyway_shift
from loyaltylens.decision.ope import (
    Estimate,
    dr_terms,
    ips_terms,
    paired_mean_difference,
    snips_difference,
)
from loyaltylens.features.definitions import (
    AS_OF_COLUMN,
    ENTITY_COLUMN,
    LABEL_COLUMN,
    OFFER_COLUMN,
    PAIR_FEATURE_NAMES,
)
from loyaltylens.features.pairs import ASSIGNMENT_COLUMN, build_pair_index

# Members no offer reached on the snapshot day (the hold-out and the untargeted): their purchases of a category in
# the label window would have happened without an offer.
_UNSENT_MEMBERS_SQL = """
SELECT customer_id FROM customers WHERE signup_date < $as_of AND customer_id NOT IN (
    SELECT customer_id FROM campaigns WHERE treated AND sent_ts >= $as_of AND sent_ts < $as_of + INTERVAL 1 DAY)
ORDER BY customer_id
"""
# Per (customer, offer, as_of) row: whether the customer bought the offer's category in [as_of + $start days,
# as_of + $start + $window days), counting purchases before $before only (a fit must not see the future).
_BOUGHT_CATEGORY_SQL = """
SELECT p._row, count(t.ts) > 0 AS bought
FROM _category_pairs p JOIN offers o USING (offer_id)
LEFT JOIN transactions t ON t.customer_id = p.customer_id AND t.category = o.category
  AND t.ts >= p.as_of + to_days($start) AND t.ts < p.as_of + to_days($start + $window) AND t.ts < $before
GROUP BY p._row
"""
# Sends followed by an unsubscription (the event carries the send's assignment id), known before $before.
_OPTED_OUT_SQL = """
SELECT DISTINCT assignment_id FROM offer_events WHERE event_type = 'unsubscribed' AND ts < $before
"""


def fit_anyway_model(
    con: duckdb.DuckDBPyConnection, snapshots: list[datetime], window_days: int, seed: int = 42
) -> AnywayModel:
    """:class:`AnywayModel` fitted on the members no offer reached on each of ``snapshots`` (hold-out and
    untargeted), each paired with one random offer eligible to them (its category is what the label asks)."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for as_of in snapshots:
        members = con.execute(_UNSENT_MEMBERS_SQL, {"as_of": as_of}).df()[ENTITY_COLUMN].to_numpy()
        pairs = eligible_pairs(con, members, as_of, window_days)
        if pairs.empty:
            continue
        chosen = _one_random_offer_each(pairs, rng).assign(**{AS_OF_COLUMN: as_of})
        index = build_pair_index(con, as_of)
        rows.append(index.lookup(chosen[ENTITY_COLUMN].to_numpy(), chosen[OFFER_COLUMN].to_numpy()))
        labels.append(bought_category(con, chosen, 0, window_days, as_of + timedelta(days=window_days)))
    if not rows:
        raise ValueError("no member without an offer on the given snapshots: nothing to learn p(anyway) from")
    return AnywayModel(seed).fit(np.vstack(rows), np.concatenate(labels))


def bought_category(
    con: duckdb.DuckDBPyConnection, pairs: pd.DataFrame, start_days: int, window_days: int, before: datetime
) -> np.ndarray:
    """Per row of ``pairs`` (``customer_id``, ``offer_id``, ``as_of``): whether the customer bought the offer's
    category in the ``window_days`` starting ``start_days`` after the row's as-of, counting purchases before
    ``before`` only."""
    keys = pairs[[ENTITY_COLUMN, OFFER_COLUMN, AS_OF_COLUMN]].assign(_row=np.arange(len(pairs)))
    con.register("_category_pairs", keys)
    bought = con.execute(_BOUGHT_CATEGORY_SQL, {"start": start_days, "window": window_days, "before": before}).df()
    return bought.set_index("_row")["bought"].reindex(np.arange(len(pairs))).to_numpy(bool)


def fit_redeemer_anyway_shift(
    con: duckdb.DuckDBPyConnection, sends: pd.DataFrame, anyway: AnywayModel, window_days: int, before: datetime
) -> float:
    """:func:`redeemer_anyway_shift` measured on logged ``sends`` (rows of ``compute_pair_training_frame``) whose
    window after the label window closed before ``before``."""
    complete = sends[pd.to_datetime(sends[AS_OF_COLUMN]) + pd.Timedelta(days=2 * window_days) <= pd.Timestamp(before)]
    if complete.empty:
        raise ValueError(
            f"no send before {before:%Y-%m-%d} has {2 * window_days} days of purchases after it: nothing to learn "
            "the redeemers' anyway shift from"
        )
    rows = complete[list(PAIR_FEATURE_NAMES)].to_numpy(np.float32)
    bought_later = bought_category(con, complete, window_days, window_days, before)  # the window after the label's
    return redeemer_anyway_shift(anyway.predict(rows), complete[LABEL_COLUMN].to_numpy(), bought_later)


def _one_random_offer_each(pairs: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One row per customer of ``pairs`` (sorted by customer), its offer drawn uniformly from theirs, as the
    campaigns assign offers."""
    sizes = pairs.groupby(ENTITY_COLUMN, sort=True).size().to_numpy()
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return pairs.iloc[starts + np.floor(rng.random(len(sizes)) * sizes).astype(np.int64)].reset_index(drop=True)


def fit_opt_out_model(
    con: duckdb.DuckDBPyConnection, sends: pd.DataFrame, before: datetime, seed: int = 42
) -> OptOutModel:
    """:class:`OptOutModel` fitted on logged ``sends`` (rows of ``compute_pair_training_frame``: each send's
    features as of its midnight), labelled with whether an unsubscription followed the send (events before
    ``before`` only)."""
    if sends.empty:
        raise ValueError("no send logged on the given snapshots: nothing to learn p(opt out) from")
    opted_out = con.execute(_OPTED_OUT_SQL, {"before": before}).df()[ASSIGNMENT_COLUMN]
    rows = sends[list(PAIR_FEATURE_NAMES)].to_numpy(np.float32)
    return OptOutModel(seed).fit(rows, sends[ASSIGNMENT_COLUMN].isin(opted_out).to_numpy())


def eligible_pairs(con: duckdb.DuckDBPyConnection, customer_ids: np.ndarray, as_of: datetime, window_days: int):
    """Every (customer, offer) pair ``customer_ids`` may receive at ``as_of``: offers active over the whole label
    window, mobile offers only for customers with the app."""
    con.register("_decided", pd.DataFrame({ENTITY_COLUMN: np.asarray(customer_ids, dtype=np.int64)}))
    last_day = (as_of + timedelta(days=window_days - 1)).date()
    return con.execute(
        """
        SELECT d.customer_id, o.offer_id FROM _decided d JOIN customers c USING (customer_id)
        JOIN offers o ON o.start_date <= $first AND o.end_date >= $last AND (o.channel <> 'mobile' OR c.has_app)
        ORDER BY d.customer_id, o.offer_id
        """,
        {"first": as_of.date(), "last": last_day},
    ).df()


def logged_campaign(
    dataset_dir: Path, campaign_id: int, window_days: int, economics: Economics, n_eligible: pd.Series
) -> pd.DataFrame:
    """The logs of one campaign for off-policy evaluation, one row per targeted customer (public tables only):
    ``customer_id``, the logged ``offer_id`` and arm (``treated``; the hold-out is the action "no offer"), the
    probability of that action given the customer was targeted, and the realised ``reward``: margin of the
    window's spend less, for a send, the discount and points of its redemption and the send cost.

    The action probability comes from the logged ``logging_probability`` ``lp`` and the customer's number of
    eligible offers ``n_eligible`` (by customer id): ``lp * n`` is the campaign's targeting share times the
    arm's share, so given targeting P(offer o, sent) = lp / (S_sent + S_held) and P(no offer) = S_held / (S_sent
    + S_held), with S the mean ``lp * n`` of each arm.
    """
    campaigns = load_table(dataset_dir, "campaigns")
    rows = campaigns[campaigns["campaign_id"] == campaign_id].reset_index(drop=True)
    sent_ts = rows["sent_ts"].iloc[0]
    transactions = load_table(dataset_dir, "transactions")
    window = transactions[
        (transactions["ts"] >= sent_ts) & (transactions["ts"] < sent_ts + pd.Timedelta(days=window_days))
    ]
    spend = window.groupby("customer_id")["amount"].sum()
    offers = load_table(dataset_dir, "offers").set_index("offer_id")
    redeemed = window.dropna(subset=["offer_id"]).merge(
        rows[["customer_id", "offer_id"]], on=["customer_id", "offer_id"]
    )
    terms = offers.loc[redeemed["offer_id"].astype(np.int64)]
    redeemed_cost = (
        terms["discount_pct"].to_numpy() / 100.0 * economics.discounted_share * redeemed["amount"].to_numpy()
        + economics.point_value_eur * terms["bonus_points"].to_numpy()
    )
    cost = pd.Series(redeemed_cost, index=redeemed["customer_id"].to_numpy()).groupby(level=0).sum()
    customer_spend = rows["customer_id"].map(spend).fillna(0.0).to_numpy()
    redemption_cost = rows["customer_id"].map(cost).fillna(0.0).to_numpy()
    treated = rows["treated"].to_numpy()
    reward = economics.gross_margin * customer_spend - np.where(treated, redemption_cost + economics.send_cost_eur, 0.0)
    # lp x n is the campaign's targeting share times the arm's share, the same for every customer of an arm.
    share = rows["logging_probability"].to_numpy() * rows["customer_id"].map(n_eligible).to_numpy(dtype=np.float64)
    sent_share, held_share = share[treated].mean(), share[~treated].mean()
    probability = np.where(treated, rows["logging_probability"].to_numpy(), held_share) / (sent_share + held_share)
    return rows.assign(reward=reward, action_probability=probability)


def _policy_actions(
    logs: pd.DataFrame,
    chosen_offer: pd.Series,
    predicted_baseline: np.ndarray,
    expected_margin_logged: np.ndarray,
    expected_margin_chosen: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per logged row: whether the policy takes the logged action, and the DR reward model's value of the logged
    and of the policy's action (arguments as :func:`policy_value_from_logs`)."""
    chosen = logs["customer_id"].map(chosen_offer)
    treated, none = logs["treated"].to_numpy(), chosen.isna().to_numpy()
    takes = np.where(none, ~treated, treated & (chosen.to_numpy() == logs["offer_id"].to_numpy()))
    q_logged = predicted_baseline + np.where(treated, expected_margin_logged, 0.0)
    q_policy = predicted_baseline + np.where(none, 0.0, expected_margin_chosen)
    return takes, q_logged, q_policy


def policy_dr_terms(
    logs: pd.DataFrame,
    chosen_offer: pd.Series,
    predicted_baseline: np.ndarray,
    expected_margin_logged: np.ndarray,
    expected_margin_chosen: np.ndarray,
) -> np.ndarray:
    """The policy's per-row doubly-robust terms on the logs (arguments as :func:`policy_value_from_logs`), for
    comparing two policies on the same rows (:func:`~loyaltylens.decision.ope.paired_mean_difference`)."""
    takes, q_logged, q_policy = _policy_actions(
        logs, chosen_offer, predicted_baseline, expected_margin_logged, expected_margin_chosen
    )
    return dr_terms(logs["reward"].to_numpy(), logs["action_probability"].to_numpy(), takes, q_logged, q_policy)


def policy_value_from_logs(
    logs: pd.DataFrame,
    chosen_offer: pd.Series,
    predicted_baseline: np.ndarray,
    expected_margin_logged: np.ndarray,
    expected_margin_chosen: np.ndarray,
    seed: int = 0,
) -> dict[str, Estimate]:
    """IPS, SNIPS and DR estimates of a policy's incremental value per targeted customer (EUR, the policy minus
    sending nothing) from one campaign's :func:`logged_campaign` rows.

    ``chosen_offer`` maps customer id to the policy's offer (NA: none). The DR reward model is the predicted
    margin without an offer (``predicted_baseline``, per row) plus the expected incremental margin of the logged
    (``expected_margin_logged``; 0 for the hold-out) and of the chosen action (``expected_margin_chosen``; 0 for
    none). The lift is the difference of the policy's and send-nothing's per-row terms, so its interval is paired.
    """
    takes, q_logged, q_policy = _policy_actions(
        logs, chosen_offer, predicted_baseline, expected_margin_logged, expected_margin_chosen
    )
    reward, probability = logs["reward"].to_numpy(), logs["action_probability"].to_numpy()
    held = ~logs["treated"].to_numpy()
    pairs = {
        "ips": (ips_terms(reward, probability, takes), ips_terms(reward, probability, held)),
        "dr": (
            dr_terms(reward, probability, takes, q_logged, q_policy),
            dr_terms(reward, probability, held, q_logged, predicted_baseline),
        ),
    }
    estimates = {name: paired_mean_difference(a, b, seed) for name, (a, b) in pairs.items()}
    weights = (np.where(takes, 1.0 / probability, 0.0), np.where(held, 1.0 / probability, 0.0))
    estimates["snips"] = snips_difference(pairs["ips"], weights, seed)
    return estimates
