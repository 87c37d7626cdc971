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

from loyaltylens.data.io import load_table, open_duckdb, read_manifest, register_views, table_path
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


# --- offer-aware truth: per assignment and per (customer, campaign, eligible offer) -------------------------
TRUE_P_REDEEM_COLUMN = "true_p_redeem"
TRUE_MARGIN_COLUMN = "true_incremental_margin"
_GROUP = ["campaign_id", ENTITY_COLUMN]


def attach_assignment_truth(frame: pd.DataFrame, dataset_dir: Path) -> pd.DataFrame:
    """``frame`` (rows keyed by ``assignment_id``) with the true redemption probability of the offer sent and
    its true incremental margin (EUR, sent minus not sent), plus the assignment's ``campaign_id``."""
    truth = load_table(dataset_dir, "assignments_truth")[
        ["assignment_id", "campaign_id", "p_redeem", "incremental_margin"]
    ].rename(columns={"p_redeem": TRUE_P_REDEEM_COLUMN, "incremental_margin": TRUE_MARGIN_COLUMN})
    return frame.drop(columns=[c for c in truth.columns[1:] if c in frame.columns]).merge(
        truth, on="assignment_id", how="left", validate="many_to_one"
    )


def attach_truth(frame: pd.DataFrame, dataset_dir: Path, label_window_days: int) -> pd.DataFrame:
    """The hidden truth of an evaluation frame of either kind as ``true_propensity``: for (customer, offer) pair
    rows (keyed by ``assignment_id``) the true redemption probability of the offer sent, with its incremental
    margin and campaign; for customer rows the true probability of redeeming any offer sent in the window."""
    if "assignment_id" in frame.columns:
        frame = attach_assignment_truth(frame, dataset_dir)
        return frame.assign(**{TRUE_PROPENSITY_COLUMN: frame[TRUE_P_REDEEM_COLUMN]})
    return attach_true_propensity(frame, dataset_dir, label_window_days)


def load_pair_truth(dataset_dir: Path, campaign_ids: list[int] | None = None) -> pd.DataFrame:
    """Every (campaign, targeted customer, eligible offer) the generator recorded the truth of."""
    pairs = load_table(dataset_dir, "pair_truth")
    return pairs if campaign_ids is None else pairs[pairs["campaign_id"].isin(campaign_ids)].reset_index(drop=True)


def campaign_as_of(dataset_dir: Path) -> dict[int, pd.Timestamp]:
    """Campaign id -> the as-of (midnight of the send day) its features are computed at."""
    dates = read_manifest(dataset_dir)["period"]["campaign_dates"]
    return {i + 1: pd.Timestamp(d) for i, d in enumerate(dates)}


def customer_only_ceiling(rows: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """Per row of ``rows`` (``campaign_id``, ``customer_id``): the mean true probability over the customer's
    eligible offers that campaign, the best a model that does not know which offer was sent can know."""
    mean = pairs.groupby(_GROUP)["p_redeem"].mean().rename("customer_only")
    return rows[_GROUP].merge(mean, on=_GROUP, how="left")["customer_only"].to_numpy(np.float64)


def ndcg_at_k(pairs: pd.DataFrame, score_column: str, k: int = 10) -> float:
    """Mean over (campaign, customer) of NDCG@k of the offers ranked by ``score_column`` against their true
    redemption probability (``p_redeem``) as the gain."""
    frame = pairs[[*_GROUP, score_column, "p_redeem"]]
    discount = 1.0 / np.log2(np.arange(2, k + 2))

    def dcg(order_by: str) -> pd.Series:
        ranked = frame.sort_values([*_GROUP, order_by], ascending=[True, True, False], kind="stable")
        rank = ranked.groupby(_GROUP).cumcount().to_numpy()
        top = rank < k
        gains = ranked["p_redeem"].to_numpy()[top] * discount[rank[top]]
        return pd.Series(gains, index=pd.MultiIndex.from_frame(ranked.loc[top, _GROUP])).groupby(level=[0, 1]).sum()

    ideal = dcg("p_redeem")
    return float((dcg(score_column) / ideal).mean())


def offer_choice_quality(pairs: pd.DataFrame, score_column: str, k: int = 10, seed: int = 0) -> dict[str, float]:
    """How well ``score_column`` picks each customer's offer, against the truth of every eligible offer:
    NDCG@k (and that of a random order), and the mean true redemption probability and incremental
    margin of the top-scored offer next to a random offer and the best one."""
    random_column = "_random_order"
    frame = pairs.assign(**{random_column: np.random.default_rng(seed).random(len(pairs))})
    top = frame.loc[frame.groupby(_GROUP)[score_column].idxmax()]
    best = frame.loc[frame.groupby(_GROUP)["p_redeem"].idxmax()]
    return {
        f"ndcg@{k}": ndcg_at_k(frame, score_column, k),
        f"random_ndcg@{k}": ndcg_at_k(frame, random_column, k),
        "top_pick_p_redeem": float(top["p_redeem"].mean()),
        "random_pick_p_redeem": float(frame.groupby(_GROUP)["p_redeem"].mean().mean()),
        "oracle_pick_p_redeem": float(best["p_redeem"].mean()),
        "top_pick_incremental_margin": float(top["incremental_margin"].mean()),
        "random_pick_incremental_margin": float(frame.groupby(_GROUP)["incremental_margin"].mean().mean()),
        "oracle_margin_pick_incremental_margin": float(frame.groupby(_GROUP)["incremental_margin"].max().mean()),
    }


def campaign_effect_truth(dataset_dir: Path) -> pd.DataFrame:
    """Per campaign, the true effect of sending over its targeted customers (both arms), from their potential
    outcomes: ``true_spend_effect`` (mean spend if sent minus if not, EUR in the label window) and
    ``true_margin_effect`` (mean expected incremental margin, EUR); with ``targeted``, the customers it covers."""
    truth = load_table(dataset_dir, "assignments_truth")
    truth = truth.assign(spend_effect=truth["spend_if_treated"] - truth["spend_if_control"])
    return (
        truth.groupby("campaign_id")
        .agg(
            targeted=("assignment_id", "size"),
            true_spend_effect=("spend_effect", "mean"),
            true_margin_effect=("incremental_margin", "mean"),
        )
        .reset_index()
    )
