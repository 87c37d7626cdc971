"""Point-in-time customer features in DuckDB SQL over a dataset's parquet tables.

The rule (as in Feast's point-in-time join): a feature as of ``as_of`` uses only events with
``ts < as_of``; every member at ``as_of`` gets a row (left join), with documented defaults when
they have no events yet. The online table is one snapshot at the build's as-of; the offline
training frame stacks snapshots at past campaign dates and adds the label that followed each.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from loyaltylens.data.io import open_duckdb, read_manifest, register_views
from loyaltylens.data.progress import ProgressCallback
from loyaltylens.data.schema import TABLES
from loyaltylens.errors import InvalidInputError
from loyaltylens.features.definitions import (
    AS_OF_COLUMN,
    ENTITY_COLUMN,
    FEATURE_NAMES,
    LABEL_COLUMN,
    LONG_WINDOW_DAYS,
    OFFER_HISTORY_DAYS,
    OPEN_RATE_PRIOR,
    RATE_PRIOR_STRENGTH,
    RECENCY_CAP_DAYS,
    REDEMPTION_RATE_PRIOR,
    SHORT_WINDOW_DAYS,
    TREATED_COLUMN,
    definition,
)

# Snapshots start once customers have this much history, so windowed features are comparable.
MIN_HISTORY_DAYS = 90

TRAINING_COLUMNS: tuple[str, ...] = (
    ENTITY_COLUMN,
    AS_OF_COLUMN,
    *FEATURE_NAMES,
    LABEL_COLUMN,
    TREATED_COLUMN,
)


def _days_before(value_sql: str) -> str:
    """SQL for the days between a timestamp and as-of, capped; no timestamp -> the cap."""
    return f"least({RECENCY_CAP_DAYS}, coalesce(epoch($as_of - {value_sql}) / 86400.0, {RECENCY_CAP_DAYS}))"


def _smoothed(hits: str, trials: str, prior: float) -> str:
    pseudo_hits, pseudo_trials = RATE_PRIOR_STRENGTH * prior, RATE_PRIOR_STRENGTH
    return f"least(1.0, (coalesce({hits}, 0) + {pseudo_hits}) / (coalesce({trials}, 0) + {pseudo_trials}))"


def _code(column: str, feature: str) -> str:
    """SQL for the integer code of a label in the feature's categories (index = code)."""
    categories = ", ".join(f"'{c}'" for c in definition(feature).categories or ())
    return f"list_position([{categories}], {column}) - 1"


# One SQL expression per feature, over the CTEs of FEATURES_SQL (m = member, p = purchases,
# f = favourite category, o = offer events). Keyed by name; the SELECT follows FEATURE_NAMES order.
FEATURE_EXPRESSIONS: dict[str, str] = {
    "recency_days": _days_before("p.last_purchase"),
    "frequency_30d": "coalesce(p.frequency_30d, 0)",
    "frequency_90d": "coalesce(p.frequency_90d, 0)",
    "monetary_90d": "coalesce(p.monetary_90d, 0)",
    "avg_basket_90d": "coalesce(p.monetary_90d / nullif(p.frequency_90d, 0), 0)",
    "offer_redemption_rate": _smoothed("o.redeemed", "o.received", REDEMPTION_RATE_PRIOR),
    "offers_received_180d": "coalesce(o.received, 0)",
    "engagement_score": _smoothed("o.opened", "o.received", OPEN_RATE_PRIOR),
    "days_since_last_redemption": _days_before("o.last_redemption"),
    "tenure_days": "epoch($as_of - CAST(m.signup_date AS TIMESTAMP)) / 86400.0",
    "channel_preference": _code("m.channel_preference", "channel_preference"),
    "segment": _code("m.segment", "segment"),
    "favorite_category": f"coalesce({_code('f.favorite_category', 'favorite_category')}, 0)",  # 0 = 'none'
}


def _select_features() -> str:
    columns = []
    for name in FEATURE_NAMES:
        sql_type = "SMALLINT" if definition(name).is_categorical else "FLOAT"
        columns.append(f"CAST({FEATURE_EXPRESSIONS[name]} AS {sql_type}) AS {name}")
    return ",\n    ".join(columns)


FEATURES_SQL = f"""
WITH members AS (
    SELECT customer_id, segment, channel_preference, signup_date
    FROM customers WHERE signup_date < $as_of
),
past_purchases AS (
    SELECT customer_id, ts, amount, category FROM transactions WHERE ts < $as_of
),
purchases AS (
    SELECT customer_id,
        max(ts) AS last_purchase,
        count(*) FILTER (WHERE ts >= $as_of - INTERVAL {SHORT_WINDOW_DAYS} DAY) AS frequency_30d,
        count(*) FILTER (WHERE ts >= $as_of - INTERVAL {LONG_WINDOW_DAYS} DAY) AS frequency_90d,
        sum(amount) FILTER (WHERE ts >= $as_of - INTERVAL {LONG_WINDOW_DAYS} DAY) AS monetary_90d
    FROM past_purchases GROUP BY customer_id
),
category_counts AS (
    SELECT customer_id, category, count(*) AS n, max(ts) AS last_ts FROM past_purchases GROUP BY ALL
),
favorite AS (  -- most purchases; ties go to the most recently bought, then the name
    SELECT customer_id, category AS favorite_category FROM category_counts
    QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY n DESC, last_ts DESC, category) = 1
),
offer_history AS (
    SELECT customer_id,
        count(*) FILTER (WHERE event_type = 'sent' AND recent) AS received,
        count(*) FILTER (WHERE event_type = 'opened' AND recent) AS opened,
        count(*) FILTER (WHERE event_type = 'redeemed' AND recent) AS redeemed,
        max(ts) FILTER (WHERE event_type = 'redeemed') AS last_redemption
    FROM (
        SELECT *, ts >= $as_of - INTERVAL {OFFER_HISTORY_DAYS} DAY AS recent
        FROM offer_events WHERE ts < $as_of
    ) GROUP BY customer_id
)
SELECT m.customer_id,
    {_select_features()}
FROM members m
LEFT JOIN purchases p USING (customer_id)
LEFT JOIN favorite f USING (customer_id)
LEFT JOIN offer_history o USING (customer_id)
ORDER BY m.customer_id
"""

# What happened in the label window after a snapshot: was an offer sent, and was one redeemed.
LABELS_SQL = """
SELECT customer_id,
    bool_or(event_type = 'redeemed') AS label,
    bool_or(event_type = 'sent') AS treated_in_window
FROM offer_events
WHERE ts >= $as_of AND ts < $as_of + to_days($window)
GROUP BY customer_id
"""

def connect(dataset_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB database holding the dataset's public tables (never the truth).

    The tables are loaded once rather than viewed over parquet: a build scans the events once per
    snapshot, and DuckDB's own columnar storage makes those scans ~2.5x faster than re-reading parquet.
    """
    read_manifest(dataset_dir)
    con = open_duckdb()
    register_views(con, dataset_dir, TABLES, materialize=True)
    return con


def as_of_timestamp(value: str | date | datetime) -> datetime:
    """An as-of as a naive midnight ``datetime``; features are computed at day boundaries."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise InvalidInputError(f"as_of must be an ISO date (YYYY-MM-DD), got '{value}'") from None
    if isinstance(value, datetime):
        value = value.date()
    return datetime(value.year, value.month, value.day)


def compute_features(con: duckdb.DuckDBPyConnection, as_of: datetime) -> pd.DataFrame:
    """Features of every customer who joined before ``as_of``, using only events before it.

    Returns ``customer_id`` plus ``FEATURE_NAMES`` in order (numeric as float32, categoricals as int16
    codes), sorted by customer id.
    """
    return con.execute(FEATURES_SQL, {"as_of": as_of}).df()


def snapshot_dates(dataset_dir: Path, as_of: datetime, label_window_days: int) -> list[datetime]:
    """Training snapshots: campaign send dates from day ``MIN_HISTORY_DAYS`` on, whose label window ends
    by ``as_of``."""
    period = read_manifest(dataset_dir)["period"]
    first = as_of_timestamp(period["start_date"]) + timedelta(days=MIN_HISTORY_DAYS)
    dates = [as_of_timestamp(d) for d in period["campaign_dates"]]
    return [d for d in dates if d >= first and d + timedelta(days=label_window_days) <= as_of]


def compute_training_frame(
    con: duckdb.DuckDBPyConnection,
    snapshots: list[datetime],
    label_window_days: int,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Stack feature snapshots with the label of the window after each (``TRAINING_COLUMNS``).

    ``snapshots`` must not be empty. The hidden truth is never read here (see ``loyaltylens.groundtruth``).
    """
    frames = []
    for i, snapshot in enumerate(snapshots):
        if progress:
            progress(f"training snapshot {snapshot:%Y-%m-%d}", i / len(snapshots))
        window = {"as_of": snapshot, "window": label_window_days}
        features = compute_features(con, snapshot)
        labels = con.execute(LABELS_SQL, window).df()
        frame = features.merge(labels, on=ENTITY_COLUMN, how="left")
        frame.insert(1, AS_OF_COLUMN, pd.Timestamp(snapshot))
        frames.append(frame)
    training = pd.concat(frames, ignore_index=True)
    for column in (LABEL_COLUMN, TREATED_COLUMN):
        training[column] = training[column].astype("boolean").fillna(False).astype(bool)
    return training[list(TRAINING_COLUMNS)]
