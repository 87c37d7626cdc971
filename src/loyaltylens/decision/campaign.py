"""Batch decisions for a campaign from the public tables: the eligible (customer, offer) pairs, their expected
incremental margin and the send decision. The learnable parts are fitted on logs before the campaign only:
the anyway model on hold-out assignments, the opt-out rate on sends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from loyaltylens.decision.margin import AnywayModel, Economics, margin_of_pair_rows
from loyaltylens.decision.policy import COST, MARGIN, SendLimits, decide_campaign
from loyaltylens.features.definitions import ENTITY_COLUMN, OFFER_COLUMN
from loyaltylens.features.pairs import PairFeatureIndex, build_pair_index

# Hold-out assignments sent on the snapshot day, and whether the customer bought the offer's category in the
# label window: no offer reached them, so that purchase would have happened anyway.
_HOLDOUT_CATEGORY_SQL = """
SELECT c.customer_id, c.offer_id,
       count(t.txn_id) > 0 AS bought_category
FROM campaigns c
JOIN offers o USING (offer_id)
LEFT JOIN transactions t ON t.customer_id = c.customer_id AND t.category = o.category
  AND t.ts >= c.sent_ts AND t.ts < c.sent_ts + to_days($window)
WHERE NOT c.treated AND c.sent_ts >= $as_of AND c.sent_ts < $as_of + INTERVAL 1 DAY
GROUP BY c.assignment_id, c.customer_id, c.offer_id
"""
_OPT_OUT_RATE_SQL = """
SELECT count(*) FILTER (WHERE event_type = 'unsubscribed') / greatest(count(*) FILTER (WHERE event_type = 'sent'), 1)
FROM offer_events WHERE ts < $before
"""


def fit_anyway_model(
    con: duckdb.DuckDBPyConnection, snapshots: list[datetime], window_days: int, seed: int = 42
) -> AnywayModel:
    """:class:`AnywayModel` fitted on the hold-out assignments of the campaigns sent on ``snapshots``."""
    rows, labels = [], []
    for as_of in snapshots:
        holdout = con.execute(_HOLDOUT_CATEGORY_SQL, {"as_of": as_of, "window": window_days}).df()
        if holdout.empty:
            continue
        index = build_pair_index(con, as_of)
        rows.append(index.lookup(holdout[ENTITY_COLUMN].to_numpy(), holdout[OFFER_COLUMN].to_numpy()))
        labels.append(holdout["bought_category"].to_numpy())
    if not rows:
        raise ValueError("no hold-out assignment on the given snapshots: nothing to learn p(anyway) from")
    return AnywayModel(seed).fit(np.vstack(rows), np.concatenate(labels))


def logged_opt_out_rate(con: duckdb.DuckDBPyConnection, before: datetime) -> float:
    """Opt-outs per send in the offer events before ``before``."""
    return float(con.execute(_OPT_OUT_RATE_SQL, {"before": before}).fetchone()[0])


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


def score_candidates(
    pairs: pd.DataFrame,
    index: PairFeatureIndex,
    p_redeem: Callable[[np.ndarray], np.ndarray],
    anyway: AnywayModel,
    economics: Economics,
    p_opt_out: float,
) -> pd.DataFrame:
    """``pairs`` (``customer_id``, ``offer_id``) with ``p_redeem``, ``p_anyway``, ``expected_margin`` and
    ``expected_cost`` (expected discount + points spend)."""
    rows = index.lookup(pairs[ENTITY_COLUMN].to_numpy(), pairs[OFFER_COLUMN].to_numpy())
    redeem, anyway_p = np.asarray(p_redeem(rows), dtype=np.float64), anyway.predict(rows)
    terms = margin_of_pair_rows(rows, redeem, anyway_p, economics, p_opt_out)
    return pairs.assign(
        p_redeem=redeem, p_anyway=anyway_p, **{MARGIN: terms.expected_margin, COST: redeem * terms.redemption_cost}
    )


def decide_customers(
    pairs: pd.DataFrame,
    index: PairFeatureIndex,
    p_redeem: Callable[[np.ndarray], np.ndarray],
    anyway: AnywayModel,
    economics: Economics,
    p_opt_out: float,
    limits: SendLimits | None = None,
) -> pd.DataFrame:
    """The send decision (:func:`decide_campaign`) over the scored eligible ``pairs``."""
    return decide_campaign(score_candidates(pairs, index, p_redeem, anyway, economics, p_opt_out), limits)
