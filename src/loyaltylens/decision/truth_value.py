"""What a decision policy truly earns on a campaign: evaluation only (it reads the simulator's hidden truth).

:func:`policy_truth_values` decides a whole campaign's targeted customers the way the product does (expected
incremental margin with the registered margin model, then the send rule of :func:`decide_campaign`) and prices
those decisions, and the usual alternatives, at the truth's incremental margin of each (customer, offer). The
decision code never imports this module (tests/test_architecture.py); ``make run`` and reports do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from loyaltylens.config import Settings
from loyaltylens.data.io import load_table
from loyaltylens.decision.campaign import eligible_pairs
from loyaltylens.decision.margin import MarginModel
from loyaltylens.decision.policy import decide_campaign
from loyaltylens.features.compute import connect
from loyaltylens.features.definitions import ENTITY_COLUMN, OFFER_COLUMN
from loyaltylens.features.pairs import build_pair_index
from loyaltylens.groundtruth import campaign_as_of, load_pair_truth

PROJECT = "LoyaltyLens: best expected margin, or nothing"
SEND_ALL = "send everyone its top-p(redeem) offer"
RANDOM = "send everyone a random eligible offer"
ORACLE = "oracle: the truly best offer, or nothing"


@dataclass(frozen=True)
class PolicyTruth:
    policy: str
    eur_per_targeted: float  # mean true incremental margin per targeted customer, over sending nothing
    low: float  # 95% bootstrap interval of that mean (customers resampled)
    high: float
    share_sent: float


def last_truth_campaign(dataset_dir: Path) -> int:
    """The newest campaign the simulator recorded every eligible pair's truth of."""
    return int(load_pair_truth(dataset_dir)["campaign_id"].max())


def policy_truth_values(
    dataset_dir: Path,
    campaign_id: int,
    margin_model: MarginModel,
    p_redeem: Callable[[np.ndarray], np.ndarray],
    settings: Settings,
) -> list[PolicyTruth]:
    """Each policy's true value on ``campaign_id``'s targeted customers; ``p_redeem`` scores pair feature rows
    (the model's raw output: the margin model recalibrates it)."""
    con, as_of = connect(dataset_dir), campaign_as_of(dataset_dir)[campaign_id].to_pydatetime()
    campaigns = load_table(dataset_dir, "campaigns")
    targeted = campaigns.loc[campaigns["campaign_id"] == campaign_id, ENTITY_COLUMN].to_numpy()
    pairs = eligible_pairs(con, targeted, as_of, settings.label_window_days)
    rows = build_pair_index(con, as_of).lookup(pairs[ENTITY_COLUMN].to_numpy(), pairs[OFFER_COLUMN].to_numpy())
    raw = np.asarray(p_redeem(rows), dtype=np.float64)
    p, terms = margin_model.margins(rows, raw)
    scored = pairs.assign(p_redeem=p, expected_margin=terms.expected_margin, expected_cost=p * terms.redemption_cost)
    truth = load_pair_truth(dataset_dir, [campaign_id])[[ENTITY_COLUMN, OFFER_COLUMN, "incremental_margin"]]
    frame = scored.merge(truth, on=[ENTITY_COLUMN, OFFER_COLUMN], how="inner")
    if len(frame) != len(scored):
        raise ValueError(f"campaign {campaign_id}: the truth lacks {len(scored) - len(frame)} eligible pairs")
    by_customer = frame.groupby(ENTITY_COLUMN)
    customers = np.sort(frame[ENTITY_COLUMN].unique())
    true_margin = frame.set_index([ENTITY_COLUMN, OFFER_COLUMN])["incremental_margin"]

    decisions = decide_campaign(scored).set_index(ENTITY_COLUMN).reindex(customers)
    sent = decisions["send"].fillna(False).astype(bool).to_numpy()
    chosen = pd.MultiIndex.from_arrays([customers, decisions[OFFER_COLUMN].fillna(-1).astype(np.int64).to_numpy()])
    project = np.where(sent, true_margin.reindex(chosen).fillna(0.0).to_numpy(), 0.0)
    top_p = frame.loc[by_customer["p_redeem"].idxmax()].set_index(ENTITY_COLUMN).reindex(customers)
    best = by_customer["incremental_margin"].max().reindex(customers).to_numpy()
    values = {
        PROJECT: (project, sent.mean()),
        SEND_ALL: (top_p["incremental_margin"].to_numpy(), 1.0),
        RANDOM: (by_customer["incremental_margin"].mean().reindex(customers).to_numpy(), 1.0),  # its expectation
        ORACLE: (np.maximum(best, 0.0), float((best > 0).mean())),
    }
    rng = np.random.default_rng(settings.seed)
    draws = rng.integers(0, len(customers), size=(1000, len(customers)))
    return [
        PolicyTruth(name, float(v.mean()), *np.percentile(v[draws].mean(axis=1), [2.5, 97.5]).tolist(), float(share))
        for name, (v, share) in values.items()
    ]
