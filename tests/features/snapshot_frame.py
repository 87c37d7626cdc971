"""The customer-snapshot training frame (one row per member per campaign snapshot, with the redemption label of
the window after it). Production trains on (customer, offer) pairs (``features.pairs``); this frame stays as test
support because it states the label window and the truth sidecar's separation most simply, and the chunked build
must agree with it."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from loyaltylens.data.progress import ProgressCallback
from loyaltylens.features.compute import DEFAULT_CHUNK_CUSTOMERS, FEATURES_SQL, IN_CHUNK, customer_ranges
from loyaltylens.features.definitions import (
    AS_OF_COLUMN,
    ENTITY_COLUMN,
    FEATURE_NAMES,
    LABEL_COLUMN,
    TREATED_COLUMN,
    definition,
)

TRAINING_COLUMNS: tuple[str, ...] = (
    ENTITY_COLUMN,
    AS_OF_COLUMN,
    *FEATURE_NAMES,
    LABEL_COLUMN,
    TREATED_COLUMN,
)

# What happened in the label window after a snapshot: was an offer sent, and was one redeemed.
LABELS_SQL = f"""
SELECT customer_id,
    bool_or(event_type = 'redeemed') AS label,
    bool_or(event_type = 'sent') AS treated_in_window
FROM offer_events
WHERE ts >= $as_of AND ts < $as_of + to_days($window) AND {IN_CHUNK}
GROUP BY customer_id
"""


def compute_training_frame(
    con: duckdb.DuckDBPyConnection,
    snapshots: list[datetime],
    label_window_days: int,
    progress: ProgressCallback | None = None,
    *,
    chunk_customers: int | None = DEFAULT_CHUNK_CUSTOMERS,
) -> pd.DataFrame:
    """Stack feature snapshots with the label of the window after each (``TRAINING_COLUMNS``).

    ``snapshots`` must not be empty. Rows are by snapshot, then customer id. Each snapshot is computed
    ``chunk_customers`` customers at a time straight into the frame's preallocated columns, so the frame is
    the only large thing held. The hidden truth is never read here (see ``loyaltylens.groundtruth``).
    """
    ranges = customer_ranges(con, chunk_customers)
    members = [
        con.execute("SELECT count(*) FROM customers WHERE signup_date < $as_of", {"as_of": s}).fetchone()[0]
        for s in snapshots
    ]
    total = sum(members)
    as_of_dtype = np.result_type(*(pd.Timestamp(s).to_datetime64().dtype for s in snapshots))
    columns: dict[str, np.ndarray] = {  # in TRAINING_COLUMNS order
        ENTITY_COLUMN: np.empty(total, np.int64),
        AS_OF_COLUMN: np.empty(total, as_of_dtype),
    }
    for name in FEATURE_NAMES:
        columns[name] = np.empty(total, np.int16 if definition(name).is_categorical else np.float32)
    for name in (LABEL_COLUMN, TREATED_COLUMN):
        columns[name] = np.zeros(total, bool)
    row = 0
    for i, snapshot in enumerate(snapshots):
        if progress:
            progress(f"training snapshot {snapshot:%Y-%m-%d}", i / len(snapshots))
        columns[AS_OF_COLUMN][row : row + members[i]] = pd.Timestamp(snapshot).to_datetime64()
        for first, last in ranges:
            params = {"as_of": snapshot, "first": first, "last": last}
            features = con.execute(FEATURES_SQL, params).fetchnumpy()
            ids = np.asarray(features[ENTITY_COLUMN], dtype=np.int64)
            n = len(ids)
            if row + n > total:
                raise RuntimeError("a snapshot returned more members than counted")  # never: same filter
            for name in (ENTITY_COLUMN, *FEATURE_NAMES):
                columns[name][row : row + n] = features[name]
            labels = con.execute(LABELS_SQL, {**params, "window": label_window_days}).fetchnumpy()
            at = np.searchsorted(ids, np.asarray(labels[ENTITY_COLUMN], dtype=np.int64))
            found = at < n
            found[found] = ids[at[found]] == np.asarray(labels[ENTITY_COLUMN], dtype=np.int64)[found]
            for name in (LABEL_COLUMN, TREATED_COLUMN):  # no event in the window: False
                values = np.ma.filled(np.ma.asarray(labels[name]), False).astype(bool)
                columns[name][row + at[found]] = values[found]
            row += n
    if row != total:
        raise RuntimeError(f"training frame has {row} rows, {total} counted")  # never: same member filter
    return pd.DataFrame(columns, copy=False)  # the arrays become the frame's columns as they are
