"""Evaluation-only access to the simulator's hidden truth: the ``truth/`` sidecar tables of a dataset.

The truth (true redemption probabilities, potential outcomes) is what the simulator knows and no model
can see. Feature and training code never import this module (``tests/test_architecture.py`` checks it);
evaluation joins the truth to the rows it scores by (customer, as-of) from the dataset itself, which a
pipeline step receives as an artifact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from loyaltylens.data.io import open_duckdb, read_manifest, register_views, table_path
from loyaltylens.features.definitions import AS_OF_COLUMN, ENTITY_COLUMN

TRUE_PROPENSITY_COLUMN = "true_propensity"

# The true probability that the customer redeems at least one of the offers sent in the label window.
_TRUE_PROPENSITY_SQL = """
SELECT k.customer_id, k.as_of, 1 - product(1 - t.p_redeem) AS true_propensity
FROM keys k
JOIN campaigns c ON c.customer_id = k.customer_id AND c.treated
  AND c.sent_ts >= k.as_of AND c.sent_ts < k.as_of + to_days($window)
JOIN read_parquet($truth_path) t USING (assignment_id)
GROUP BY k.customer_id, k.as_of
"""


def attach_true_propensity(frame: pd.DataFrame, dataset_dir: Path, label_window_days: int) -> pd.DataFrame:
    """``frame`` (rows keyed by ``customer_id`` and ``as_of``) with the hidden ``true_propensity`` added.

    Rows with no offer sent in the window get NaN: there is no redemption probability to know.
    """
    read_manifest(dataset_dir)
    con = open_duckdb()
    register_views(con, dataset_dir, ("campaigns",))
    keys = frame[[ENTITY_COLUMN, AS_OF_COLUMN]].drop_duplicates()
    con.register("keys", keys)
    truth = con.execute(
        _TRUE_PROPENSITY_SQL,
        {"window": label_window_days, "truth_path": str(table_path(dataset_dir, "assignments_truth"))},
    ).df()
    truth[AS_OF_COLUMN] = truth[AS_OF_COLUMN].astype(frame[AS_OF_COLUMN].dtype)
    return frame.drop(columns=[TRUE_PROPENSITY_COLUMN], errors="ignore").merge(
        truth, on=[ENTITY_COLUMN, AS_OF_COLUMN], how="left", validate="many_to_one"
    )


def true_propensity_vector(frame: pd.DataFrame) -> np.ndarray | None:
    """The hidden truth of an evaluation frame, or ``None`` when nobody attached it."""
    if TRUE_PROPENSITY_COLUMN not in frame.columns:
        return None
    return frame[TRUE_PROPENSITY_COLUMN].to_numpy(dtype=np.float64)
