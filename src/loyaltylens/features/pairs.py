"""Point-in-time features of (customer, offer) pairs: which offer, not only whether.

A pair row is the customer's features as of ``as_of`` (``compute.compute_features``), the offer's own
attributes, and the customer's fit with the offer, all from events with ``ts < as_of``:
the share of their purchases in the offer's category, whether the offer is on their channel, the
minimum spend against their usual basket, days since they last bought the category, and how they
answered earlier offers of the category. ``PAIR_FEATURE_NAMES`` fixes the column order.

One path computes them: ``build_pair_index`` runs the SQL once per as-of into ``PairFeatureIndex``, dense
per-customer arrays that assemble the rows of any pairs in one vectorised call. Online lookups, batch
scoring of every (customer, eligible offer) pair and the training snapshots at campaign dates all use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from loyaltylens.data.progress import ProgressCallback
from loyaltylens.errors import NotFoundError
from loyaltylens.features.compute import (
    DEFAULT_CHUNK_CUSTOMERS,
    FEATURES_SQL,
    IN_CHUNK,
    customer_ranges,
    features_sql,
)
from loyaltylens.features.definitions import (
    AS_OF_COLUMN,
    BASKET_FEATURE,
    ENTITY_COLUMN,
    FEATURE_NAMES,
    LABEL_COLUMN,
    MIN_SPEND_RATIO_CAP,
    OFFER_CHANNELS,
    OFFER_COLUMN,
    PAIR_FEATURE_NAMES,
    RATE_PRIOR_STRENGTH,
    RECENCY_CAP_DAYS,
    REDEMPTION_RATE_PRIOR,
    TREATED_COLUMN,
    YEAR_WINDOW_DAYS,
)
from loyaltylens.vocabulary import PRODUCT_CATEGORIES

ASSIGNMENT_COLUMN = "assignment_id"
PAIR_TRAINING_COLUMNS: tuple[str, ...] = (
    ASSIGNMENT_COLUMN,
    ENTITY_COLUMN,
    OFFER_COLUMN,
    AS_OF_COLUMN,
    *PAIR_FEATURE_NAMES,
    LABEL_COLUMN,
    TREATED_COLUMN,
)
OFFER_CHANNEL_ANY = OFFER_CHANNELS.index("any")
# Pair columns stored as int16 codes (the rest are float32), as ``compute_pair_features`` returns them.
_CATEGORICAL_PAIR_COLUMNS: tuple[str, ...] = (
    "channel_preference",
    "segment",
    "favorite_category",
    "offer_category",
    "offer_channel",
)
# A customer with no purchase yet gets the uniform share: they have no known favourite.
_CATEGORY_PRIOR = 1.0 / len(PRODUCT_CATEGORIES)
_CATEGORY_LABELS = ", ".join(f"'{c}'" for c in PRODUCT_CATEGORIES)


# Per customer and category, from events before as-of: purchases in the window, last purchase, offers of
# the category sent and redeemed in the window. One row per (customer, category) with any of them.
def customer_category_sql(customers: str = IN_CHUNK) -> str:
    """The per-category SQL over the customers the SQL condition ``customers`` (on ``customer_id``) selects."""
    return f"""
WITH purchases AS (
    SELECT customer_id, category,
        count(*) FILTER (WHERE ts >= $as_of - INTERVAL {YEAR_WINDOW_DAYS} DAY) AS purchases,
        max(ts) AS last_purchase
    FROM transactions WHERE ts < $as_of AND {customers} GROUP BY ALL
),
responses AS (
    SELECT e.customer_id, o.category,
        count(*) FILTER (WHERE e.event_type = 'sent') AS sent,
        count(*) FILTER (WHERE e.event_type = 'redeemed') AS redeemed
    FROM offer_events e JOIN offers o USING (offer_id)
    WHERE e.ts < $as_of AND e.ts >= $as_of - INTERVAL {YEAR_WINDOW_DAYS} DAY AND {customers}
    GROUP BY ALL
)
SELECT customer_id,
    CAST(list_position([{_CATEGORY_LABELS}], CAST(category AS VARCHAR)) - 1 AS SMALLINT) AS category,
    coalesce(p.purchases, 0) AS purchases,
    least({RECENCY_CAP_DAYS}, coalesce(epoch($as_of - p.last_purchase) / 86400.0, {RECENCY_CAP_DAYS}))
        AS days_since_purchase,
    coalesce(r.sent, 0) AS sent,
    coalesce(r.redeemed, 0) AS redeemed
FROM purchases p FULL OUTER JOIN responses r USING (customer_id, category)
"""


CUSTOMER_CATEGORY_SQL = customer_category_sql()

OFFERS_SQL = f"""
SELECT offer_id, CAST(discount_pct AS FLOAT) AS discount_pct, CAST(min_spend AS FLOAT) AS min_spend,
    CAST(bonus_points AS FLOAT) AS bonus_points,
    CAST(list_position([{_CATEGORY_LABELS}], CAST(category AS VARCHAR)) - 1 AS SMALLINT) AS offer_category,
    CAST(list_position([{", ".join(f"'{c}'" for c in OFFER_CHANNELS)}], channel) - 1 AS SMALLINT) AS offer_channel,
    CAST(start_date AS TIMESTAMP) AS start_date, CAST(end_date AS TIMESTAMP) AS end_date
FROM offers ORDER BY offer_id
"""

# Treated assignments sent on the snapshot's day, with whether each was redeemed within the window.
_SENT_ON_THE_DAY = "c.treated AND c.sent_ts >= $as_of AND c.sent_ts < $as_of + INTERVAL 1 DAY"
ASSIGNMENTS_SQL = f"""
SELECT c.assignment_id, c.customer_id, c.offer_id,
    EXISTS (SELECT 1 FROM offer_events e WHERE e.assignment_id = c.assignment_id
        AND e.event_type = 'redeemed' AND e.ts < $as_of + to_days($window)) AS label
FROM campaigns c
WHERE {_SENT_ON_THE_DAY}
ORDER BY c.assignment_id
"""
# The pair training frame needs the index rows of the customers assigned on the snapshot's day only.
_ASSIGNED_IN_CHUNK = f"{IN_CHUNK} AND customer_id IN (SELECT customer_id FROM campaigns c WHERE {_SENT_ON_THE_DAY})"
_ASSIGNED_SQL = (features_sql(_ASSIGNED_IN_CHUNK), customer_category_sql(_ASSIGNED_IN_CHUNK))


# The offer attributes a pair row reads (the offers table also carries the offer's dates, for eligibility).
_PAIR_ROW_ATTRIBUTES = ("discount_pct", "min_spend", "bonus_points", "offer_category", "offer_channel")


@dataclass(frozen=True)
class PairFeatureIndex:
    """Everything pair features need at one as-of, as dense arrays indexed by customer row and category.

    ``lookup`` assembles the rows of any (customer, offer) pairs with numpy indexing only, so one call
    serves a whole candidate list; the values equal ``compute_pair_features`` at the same as-of.
    """

    as_of: datetime
    customer_ids: np.ndarray  # sorted
    customer_features: np.ndarray  # [C, len(FEATURE_NAMES)] float32
    category_share: np.ndarray  # [C, K]
    days_since_purchase: np.ndarray  # [C, K]
    category_redemption_rate: np.ndarray  # [C, K]
    offer_ids: np.ndarray  # sorted
    offers: pd.DataFrame  # OFFERS_SQL columns, one row per offer in offer_ids order

    def lookup(self, customer_ids: Sequence[int], offer_ids: Sequence[int]) -> np.ndarray:
        """``[N, len(PAIR_FEATURE_NAMES)]`` float32 rows of the pairs ``zip(customer_ids, offer_ids)``.

        Raises:
            NotFoundError: a customer had not joined by the as-of, or an offer does not exist.
        """
        c = _positions(self.customer_ids, np.asarray(customer_ids, dtype=np.int64), "customer")
        o = _positions(self.offer_ids, np.asarray(offer_ids, dtype=np.int64), "offer")
        offers = {name: self.offers[name].to_numpy()[o] for name in _PAIR_ROW_ATTRIBUTES}
        category = offers["offer_category"].astype(np.int64)
        customer = self.customer_features[c]
        affinity = _affinity_columns(
            channel_preference=customer[:, FEATURE_NAMES.index("channel_preference")],
            avg_basket=customer[:, FEATURE_NAMES.index(BASKET_FEATURE)],
            offer_channel=offers["offer_channel"],
            min_spend=offers["min_spend"],
        )
        columns = [
            customer,
            *(offers[name][:, None] for name in ("discount_pct", "min_spend", "bonus_points")),
            offers["offer_category"][:, None],
            offers["offer_channel"][:, None],
            self.category_share[c, category][:, None],
            affinity["channel_match"][:, None],
            affinity["min_spend_ratio"][:, None],
            self.days_since_purchase[c, category][:, None],
            self.category_redemption_rate[c, category][:, None],
        ]
        return np.ascontiguousarray(np.hstack(columns), dtype=np.float32)


def build_pair_index(
    con: duckdb.DuckDBPyConnection, as_of: datetime, *, chunk_customers: int | None = DEFAULT_CHUNK_CUSTOMERS
) -> PairFeatureIndex:
    """The ``PairFeatureIndex`` of every member and offer at ``as_of`` (events before it only), computed
    ``chunk_customers`` customers at a time into preallocated arrays (``None``: in one query)."""
    offers = con.execute(OFFERS_SQL).df()
    ranges = customer_ranges(con, chunk_customers)
    if len(ranges) == 1:
        return _index_of(con, as_of, ranges[0], offers)
    members = con.execute("SELECT count(*) FROM customers WHERE signup_date < $as_of", {"as_of": as_of}).fetchone()[0]
    shape = (members, len(PRODUCT_CATEGORIES))
    arrays = {
        "customer_ids": np.empty(members, np.int64),
        "customer_features": np.empty((members, len(FEATURE_NAMES)), np.float32),
        "category_share": np.empty(shape),
        "days_since_purchase": np.empty(shape),
        "category_redemption_rate": np.empty(shape),
    }
    row = 0
    for chunk in ranges:
        part = _index_of(con, as_of, chunk, offers)
        n = len(part.customer_ids)
        if row + n > members:
            raise RuntimeError("the chunks hold more members than counted")  # never: same member filter
        for name, values in arrays.items():
            values[row : row + n] = getattr(part, name)
        row += n
    if row != members:
        raise RuntimeError(f"the chunks hold {row} members, {members} counted")  # never: same member filter
    return PairFeatureIndex(as_of=as_of, **arrays, offer_ids=_offer_ids(offers), offers=_offer_attributes(offers))


def _index_of(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    chunk: tuple[int, int],
    offers: pd.DataFrame,
    assigned_only: bool = False,
) -> PairFeatureIndex:
    """The ``PairFeatureIndex`` of the members with ids in the inclusive range ``chunk`` (and every offer);
    with ``assigned_only``, of those of them with a treated assignment sent on the day of ``as_of``."""
    params = {"as_of": as_of, "first": chunk[0], "last": chunk[1]}
    features, per_category_sql = _ASSIGNED_SQL if assigned_only else (FEATURES_SQL, CUSTOMER_CATEGORY_SQL)
    customers = con.execute(features, params).df()
    ids = customers[ENTITY_COLUMN].to_numpy(np.int64)
    per_category = con.execute(per_category_sql, params).df()
    per_category = per_category[per_category[ENTITY_COLUMN].isin(ids)]
    row = np.searchsorted(ids, per_category[ENTITY_COLUMN].to_numpy(np.int64))
    category = per_category["category"].to_numpy(np.int64)
    shape = (len(ids), len(PRODUCT_CATEGORIES))

    def dense(column: str, fill: float) -> np.ndarray:
        values = np.full(shape, fill)
        values[row, category] = per_category[column].to_numpy(np.float64)
        return values

    purchases, sent, redeemed = dense("purchases", 0.0), dense("sent", 0.0), dense("redeemed", 0.0)
    return PairFeatureIndex(
        as_of=as_of,
        customer_ids=ids,
        customer_features=customers[list(FEATURE_NAMES)].to_numpy(np.float32),
        category_share=_share(purchases, purchases.sum(axis=1, keepdims=True)),
        days_since_purchase=dense("days_since_purchase", RECENCY_CAP_DAYS),
        category_redemption_rate=_smoothed(redeemed, sent, REDEMPTION_RATE_PRIOR),
        offer_ids=_offer_ids(offers),
        offers=_offer_attributes(offers),
    )


def _offer_ids(offers: pd.DataFrame) -> np.ndarray:
    return offers[OFFER_COLUMN].to_numpy(np.int64)


def _offer_attributes(offers: pd.DataFrame) -> pd.DataFrame:
    return offers.drop(columns=[OFFER_COLUMN])


def compute_pair_features(con: duckdb.DuckDBPyConnection, as_of: datetime, pairs: pd.DataFrame) -> pd.DataFrame:
    """``pairs`` (``customer_id``, ``offer_id`` and any other columns) with ``PAIR_FEATURE_NAMES`` appended.

    Raises:
        NotFoundError: a customer had not joined by ``as_of`` or an offer does not exist.
    """
    index = build_pair_index(con, as_of)
    matrix = index.lookup(pairs[ENTITY_COLUMN].to_numpy(), pairs[OFFER_COLUMN].to_numpy())
    features = pd.DataFrame(matrix, columns=list(PAIR_FEATURE_NAMES), index=pairs.index)
    for name in _CATEGORICAL_PAIR_COLUMNS:
        features[name] = features[name].astype(np.int16)
    return pd.concat([pairs, features], axis=1)


def compute_pair_training_frame(
    con: duckdb.DuckDBPyConnection,
    snapshots: list[datetime],
    label_window_days: int,
    progress: ProgressCallback | None = None,
    *,
    chunk_customers: int | None = DEFAULT_CHUNK_CUSTOMERS,
) -> pd.DataFrame:
    """One row per treated assignment sent on a snapshot date (``PAIR_TRAINING_COLUMNS``): the pair's
    features as of that midnight and whether that offer was redeemed within the window.

    Rows are by snapshot, then assignment id. The pair index of each snapshot is built ``chunk_customers``
    customers at a time (only for chunks that hold an assignment) and its rows are written straight into
    the frame's preallocated columns. The hidden truth is never read here (see ``loyaltylens.groundtruth``).
    """
    counts = [
        con.execute(
            "SELECT count(*) FROM campaigns WHERE treated AND sent_ts >= $as_of AND sent_ts < $as_of + INTERVAL 1 DAY",
            {"as_of": snapshot},
        ).fetchone()[0]
        for snapshot in snapshots
    ]
    total = sum(counts)
    if not total:
        return pd.DataFrame(columns=list(PAIR_TRAINING_COLUMNS))
    as_of_dtype = np.result_type(*(pd.Timestamp(s).to_datetime64().dtype for s in snapshots))
    columns: dict[str, np.ndarray] = {  # in PAIR_TRAINING_COLUMNS order
        ASSIGNMENT_COLUMN: np.empty(total, np.int64),
        ENTITY_COLUMN: np.empty(total, np.int64),
        OFFER_COLUMN: np.empty(total, np.int64),
        AS_OF_COLUMN: np.empty(total, as_of_dtype),
    }
    for name in PAIR_FEATURE_NAMES:
        columns[name] = np.empty(total, np.int16 if name in _CATEGORICAL_PAIR_COLUMNS else np.float32)
    columns[LABEL_COLUMN] = np.empty(total, bool)
    columns[TREATED_COLUMN] = np.ones(total, bool)
    offers = con.execute(OFFERS_SQL).df()
    ranges = customer_ranges(con, chunk_customers)
    row = 0
    for i, snapshot in enumerate(snapshots):
        if progress:
            progress(f"pair snapshot {snapshot:%Y-%m-%d}", i / len(snapshots))
        if not counts[i]:
            continue
        assignments = con.execute(ASSIGNMENTS_SQL, {"as_of": snapshot, "window": label_window_days}).fetchnumpy()
        n = len(assignments[ASSIGNMENT_COLUMN])
        if n != counts[i]:
            raise RuntimeError(f"{n} assignments on {snapshot:%Y-%m-%d}, {counts[i]} counted")  # never: same filter
        rows = slice(row, row + n)
        for name in (ASSIGNMENT_COLUMN, ENTITY_COLUMN, OFFER_COLUMN, LABEL_COLUMN):
            columns[name][rows] = assignments[name]
        columns[AS_OF_COLUMN][rows] = pd.Timestamp(snapshot).to_datetime64()
        customer_ids = columns[ENTITY_COLUMN][rows]
        for first, last in ranges:  # the ranges cover every id, so every row gets its features
            in_chunk = np.flatnonzero((customer_ids >= first) & (customer_ids <= last))
            if not len(in_chunk):
                continue
            index = _index_of(con, snapshot, (first, last), offers, assigned_only=True)
            matrix = index.lookup(customer_ids[in_chunk], columns[OFFER_COLUMN][rows][in_chunk])
            for j, name in enumerate(PAIR_FEATURE_NAMES):
                columns[name][row + in_chunk] = matrix[:, j]
        row += n
    return pd.DataFrame(columns, copy=False)  # the arrays become the frame's columns as they are


def _positions(known: np.ndarray, wanted: np.ndarray, what: str) -> np.ndarray:
    """Rows of ``wanted`` ids in the sorted ``known`` ids."""
    if not len(known):
        raise NotFoundError(f"no {what} exists at this as-of")
    position = np.minimum(np.searchsorted(known, wanted), len(known) - 1)
    missing = known[position] != wanted
    if missing.any():
        raise NotFoundError(f"unknown {what} id(s) {wanted[missing][:5].tolist()} at this as-of")
    return position


def _share(hits: np.ndarray, totals: np.ndarray) -> np.ndarray:
    pseudo = RATE_PRIOR_STRENGTH
    return (hits + pseudo * _CATEGORY_PRIOR) / (totals + pseudo)


def _smoothed(hits: np.ndarray, trials: np.ndarray, prior: float) -> np.ndarray:
    return np.minimum(1.0, (hits + RATE_PRIOR_STRENGTH * prior) / (trials + RATE_PRIOR_STRENGTH))


def _affinity_columns(
    channel_preference: np.ndarray, avg_basket: np.ndarray, offer_channel: np.ndarray, min_spend: np.ndarray
) -> dict[str, np.ndarray]:
    """The affinities computed from the pair's own columns: channel match and minimum spend vs basket."""
    same = offer_channel.astype(np.int64) == channel_preference.astype(np.int64)
    channel_match = np.where(offer_channel == OFFER_CHANNEL_ANY, 0.5, same.astype(np.float64))
    ratio = np.divide(min_spend, avg_basket, out=np.full(len(min_spend), MIN_SPEND_RATIO_CAP), where=avg_basket > 0)
    return {"channel_match": channel_match, "min_spend_ratio": np.minimum(ratio, MIN_SPEND_RATIO_CAP)}
