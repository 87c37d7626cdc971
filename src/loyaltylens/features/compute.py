"""Point-in-time customer features in DuckDB SQL over a dataset's parquet tables.

The rule (as in Feast's point-in-time join): a feature as of ``as_of`` uses only events with
``ts < as_of``; every member at ``as_of`` gets a row (left join), with documented defaults when
they have no events yet. The online table is one snapshot at the build's as-of; the offline
training frame stacks snapshots at past campaign dates and adds the label that followed each.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from loyaltylens.data.io import read_manifest, table_path
from loyaltylens.data.schema import EVENT_TYPES, TABLES
from loyaltylens.errors import DataValidationError, InvalidInputError
from loyaltylens.features.definitions import (
    FEATURE_NAMES,
    LONG_WINDOW_DAYS,
    OFFER_HISTORY_DAYS,
    OPEN_RATE_PRIOR,
    RATE_PRIOR_STRENGTH,
    RECENCY_CAP_DAYS,
    REDEMPTION_RATE_PRIOR,
    SHORT_WINDOW_DAYS,
    YEAR_WINDOW_DAYS,
    definition,
)
from loyaltylens.vocabulary import PRODUCT_CATEGORIES

# Snapshots start once customers have this much history, so windowed features are comparable.
MIN_HISTORY_DAYS = 90

# Bounded memory (a build of 1M customers fits in ~4 GB): the dataset is loaded into a DuckDB file that is
# unlinked at once (it lives until the connection closes), so table data is paged from disk rather than held;
# DuckDB's own memory (buffer pool, hash tables, sorts) is capped by ``DEFAULT_MEMORY_LIMIT`` and spills to a
# temporary directory past it; and every query runs per range of customer ids (``DEFAULT_CHUNK_CUSTOMERS``
# customers a chunk). Features of one customer depend on that customer's events only, so chunks change no value.
DEFAULT_MEMORY_LIMIT = "1GB"
DEFAULT_CHUNK_CUSTOMERS = 50_000
_ALL_IDS = (-(2**63), 2**63 - 1)  # the chunk of an unchunked query: every possible customer id

# Low-cardinality strings load as ENUMs (hashing a one-byte code, not a string). Their labels are sorted, so
# ORDER BY / comparisons give the same order as on the strings.
_ENUM_TYPES: dict[str, tuple[str, ...]] = {
    "product_category": tuple(sorted(PRODUCT_CATEGORIES)),
    "event_type": tuple(sorted(EVENT_TYPES)),
}
# What ``connect`` loads of each public table: the columns the feature SQL reads.
_LOADED_COLUMNS: dict[str, str] = {
    "customers": "customer_id, segment, channel_preference, has_app, signup_date",
    "offers": "offer_id, CAST(category AS product_category) AS category, discount_pct, channel, min_spend, "
    "bonus_points, start_date, end_date",
    "transactions": "customer_id, ts, amount, CAST(category AS product_category) AS category",
    "campaigns": "assignment_id, campaign_id, customer_id, offer_id, sent_ts, treated",
    "offer_events": "customer_id, offer_id, assignment_id, ts, CAST(event_type AS event_type) AS event_type",
}
# The chunk filter of every query over per-customer rows.
IN_CHUNK = "customer_id BETWEEN $first AND $last"


def _days_before(value_sql: str) -> str:
    """SQL for the days between a timestamp and as-of, capped; no timestamp -> the cap."""
    return f"least({RECENCY_CAP_DAYS}, coalesce(epoch($as_of - {value_sql}) / 86400.0, {RECENCY_CAP_DAYS}))"


def _smoothed(hits: str, trials: str, prior: float) -> str:
    pseudo_hits, pseudo_trials = RATE_PRIOR_STRENGTH * prior, RATE_PRIOR_STRENGTH
    return f"least(1.0, (coalesce({hits}, 0) + {pseudo_hits}) / (coalesce({trials}, 0) + {pseudo_trials}))"


def _code(column: str, feature: str) -> str:
    """SQL for the integer code of a label in the feature's categories (index = code)."""
    categories = ", ".join(f"'{c}'" for c in definition(feature).categories or ())
    return f"list_position([{categories}], CAST({column} AS VARCHAR)) - 1"


# One SQL expression per feature, over the CTEs of FEATURES_SQL (m = member, p = purchases,
# f = favourite category, o = offer events). Keyed by name; the SELECT follows FEATURE_NAMES order.
FEATURE_EXPRESSIONS: dict[str, str] = {
    "recency_days": _days_before("p.last_purchase"),
    "frequency_30d": "coalesce(p.frequency_30d, 0)",
    "frequency_90d": "coalesce(p.frequency_90d, 0)",
    "monetary_90d": "coalesce(p.monetary_90d, 0)",
    "avg_basket_90d": "coalesce(p.monetary_90d / nullif(p.frequency_90d, 0), 0)",
    "avg_basket_365d": "coalesce(p.avg_basket_365d, 0)",
    "offer_redemption_rate": _smoothed("o.redeemed", "o.received", REDEMPTION_RATE_PRIOR),
    "offers_received_180d": "coalesce(o.received, 0)",
    "offers_received_30d": "coalesce(o.received_30d, 0)",
    "days_since_last_offer": _days_before("o.last_offer"),
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


def features_sql(customers: str = IN_CHUNK) -> str:
    """The feature SQL over the customers the SQL condition ``customers`` (on ``customer_id``) selects."""
    return f"""
WITH members AS (
    SELECT customer_id, segment, channel_preference, signup_date
    FROM customers WHERE signup_date < $as_of AND {customers}
),
past_purchases AS NOT MATERIALIZED (  -- two cheap scans beat holding the rows
    SELECT customer_id, ts, amount, category FROM transactions WHERE ts < $as_of AND {customers}
),
purchases AS (
    SELECT customer_id,
        max(ts) AS last_purchase,
        count(*) FILTER (WHERE ts >= $as_of - INTERVAL {SHORT_WINDOW_DAYS} DAY) AS frequency_30d,
        count(*) FILTER (WHERE ts >= $as_of - INTERVAL {LONG_WINDOW_DAYS} DAY) AS frequency_90d,
        sum(amount) FILTER (WHERE ts >= $as_of - INTERVAL {LONG_WINDOW_DAYS} DAY) AS monetary_90d,
        avg(amount) FILTER (WHERE ts >= $as_of - INTERVAL {YEAR_WINDOW_DAYS} DAY) AS avg_basket_365d
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
        count(*) FILTER (WHERE event_type = 'sent' AND ts >= $as_of - INTERVAL {SHORT_WINDOW_DAYS} DAY) AS received_30d,
        max(ts) FILTER (WHERE event_type = 'sent') AS last_offer,
        count(*) FILTER (WHERE event_type = 'opened' AND recent) AS opened,
        count(*) FILTER (WHERE event_type = 'redeemed' AND recent) AS redeemed,
        max(ts) FILTER (WHERE event_type = 'redeemed') AS last_redemption
    FROM (
        SELECT *, ts >= $as_of - INTERVAL {OFFER_HISTORY_DAYS} DAY AS recent
        FROM offer_events WHERE ts < $as_of AND {customers}
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


FEATURES_SQL = features_sql()


def connect(
    dataset_dir: Path,
    *,
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
    temp_dir: Path | str | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB database holding the dataset's public tables (never the truth), the columns features read.

    The tables are loaded once rather than viewed over parquet: a build scans the events several times per
    snapshot, and DuckDB's own compressed columnar storage scans much faster than re-reading parquet. They
    are stored in a database file under a new directory in ``temp_dir`` (default: the system's temporary
    directory), so the data is paged from disk instead of held in memory; the file is unlinked at once and
    vanishes with the connection, and the directory (where DuckDB spills past ``memory_limit``) goes when the
    connection is garbage-collected or the process exits.

    Args:
        memory_limit: DuckDB's memory limit (e.g. ``"1GB"``); ``None`` for DuckDB's default (80% of RAM).
        temp_dir: where the database file and spill files go.

    Raises:
        NotFoundError: no dataset at ``dataset_dir``.
        DataValidationError: a category or event type outside the vocabulary.
    """
    dataset_dir = Path(dataset_dir)
    read_manifest(dataset_dir)
    workdir = Path(tempfile.mkdtemp(prefix="loyaltylens-features-", dir=temp_dir))
    database = workdir / "dataset.duckdb"
    config = {"temp_directory": str(workdir / "spill")}
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    try:
        con = duckdb.connect(str(database), config=config)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    weakref.finalize(con, shutil.rmtree, str(workdir), True)
    try:
        con.execute("SET enable_progress_bar = false")
        for name, labels in _ENUM_TYPES.items():
            con.execute(f"CREATE TYPE {name} AS ENUM ({', '.join(repr(label) for label in labels)})")
        for name in TABLES:
            path = str(table_path(dataset_dir, name)).replace("'", "''")
            con.execute(f"CREATE TABLE {name} AS SELECT {_LOADED_COLUMNS[name]} FROM read_parquet('{path}')")
        con.execute("CHECKPOINT")
    except duckdb.ConversionException as exc:
        con.close()
        raise DataValidationError(f"dataset {dataset_dir}: a value outside the vocabulary ({exc})") from None
    except BaseException:
        con.close()
        raise
    try:
        database.unlink()  # DuckDB keeps reading its open file; a killed build leaves no copy of the data behind
    except OSError:
        pass  # a platform that cannot unlink an open file: the directory goes with the connection instead
    return con


def customer_ranges(
    con: duckdb.DuckDBPyConnection, chunk_customers: int | None = DEFAULT_CHUNK_CUSTOMERS
) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` customer-id ranges of about ``chunk_customers`` customers each that together
    cover every possible id (so no row falls between chunks); one range if ``chunk_customers`` is ``None``."""
    if not chunk_customers or chunk_customers < 1:
        return [_ALL_IDS]
    ids = con.execute("SELECT customer_id FROM customers ORDER BY customer_id").fetchnumpy()["customer_id"]
    starts = np.unique(np.asarray(ids[chunk_customers::chunk_customers], dtype=np.int64)).tolist()
    firsts, lasts = [_ALL_IDS[0], *starts], [*(start - 1 for start in starts), _ALL_IDS[1]]
    return list(zip(firsts, lasts, strict=True))


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


def compute_features(
    con: duckdb.DuckDBPyConnection, as_of: datetime, *, chunk_customers: int | None = DEFAULT_CHUNK_CUSTOMERS
) -> pd.DataFrame:
    """Features of every customer who joined before ``as_of``, using only events before it.

    Returns ``customer_id`` plus ``FEATURE_NAMES`` in order (numeric as float32, categoricals as int16
    codes), sorted by customer id. Computed ``chunk_customers`` customers at a time (``None``: in one query).
    """
    frames = [
        con.execute(FEATURES_SQL, {"as_of": as_of, "first": first, "last": last}).df()
        for first, last in customer_ranges(con, chunk_customers)
    ]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def snapshot_dates(dataset_dir: Path, as_of: datetime, label_window_days: int) -> list[datetime]:
    """Training snapshots: campaign send dates from day ``MIN_HISTORY_DAYS`` on, whose label window ends
    by ``as_of``."""
    period = read_manifest(dataset_dir)["period"]
    first = as_of_timestamp(period["start_date"]) + timedelta(days=MIN_HISTORY_DAYS)
    dates = [as_of_timestamp(d) for d in period["campaign_dates"]]
    return [d for d in dates if d >= first and d + timedelta(days=label_window_days) <= as_of]
