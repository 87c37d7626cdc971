"""Campaign experiment analysis: what sending a campaign's offers did, measured on its random hold-out.

Every campaign targets customers and holds a random share of them out (not sent): the two arms differ only
by the send, so the difference of their means in the label window estimates the effect of sending. Per
campaign and outcome (spend; margin) the estimate comes with a 95 % normal confidence interval (Welch
standard error; the arms have thousands of customers at the reference size).

**CUPED** (Deng et al., 2013): a customer's spend in the ``PRE_PERIOD_DAYS`` before the send predicts their
spend after it and is independent of the arm, so subtracting ``theta * (pre - mean(pre))`` with
``theta = cov(y, pre) / var(pre)`` (pooled over both arms) removes that predictable part of the variance
without biasing the difference; the interval narrows by ``sqrt(1 - corr(y, pre)^2)``.

Margin per customer uses the retailer's own economics (gross margin, discount share, point value, send cost,
an opt-out's lost baskets, ``data/behaviour.py``) on observed events only: ``GROSS_MARGIN * spend`` minus,
if sent, the send cost, each redemption's discount and points, and for an opt-out the lost margin of
``OPT_OUT_LOSS_BASKETS`` of the customer's pre-period baskets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from loyaltylens.data.behaviour import (
    DISCOUNTED_SHARE,
    GROSS_MARGIN,
    OPT_OUT_LOSS_BASKETS,
    POINT_VALUE_EUR,
    SEND_COST_EUR,
)
from loyaltylens.data.io import open_duckdb, read_manifest, register_views
from loyaltylens.errors import InvalidInputError

PRE_PERIOD_DAYS = 28
CONFIDENCE = 0.95
OUTCOMES = ("spend", "margin")

# One row per assignment (both arms): spend in the label window and in the pre-period, and what the send cost.
_ASSIGNMENT_OUTCOMES_SQL = """
WITH window_spend AS (
  SELECT c.assignment_id,
         coalesce(sum(t.amount) FILTER (WHERE t.ts >= c.sent_ts AND t.ts < c.sent_ts + to_days($window)), 0) AS spend,
         coalesce(sum(t.amount) FILTER (WHERE t.ts < c.sent_ts), 0) AS pre_spend,
         count(t.amount) FILTER (WHERE t.ts < c.sent_ts) AS pre_purchases,
         coalesce(sum(t.amount) FILTER (WHERE t.offer_id = c.offer_id AND t.ts >= c.sent_ts
                  AND t.ts < c.sent_ts + to_days($window)), 0) AS redeemed_amount,
         count(t.amount) FILTER (WHERE t.offer_id = c.offer_id AND t.ts >= c.sent_ts
                  AND t.ts < c.sent_ts + to_days($window)) AS redemptions
  FROM campaigns c
  LEFT JOIN transactions t ON t.customer_id = c.customer_id
    AND t.ts >= c.sent_ts - to_days($pre) AND t.ts < c.sent_ts + to_days($window)
  GROUP BY c.assignment_id
)
SELECT c.campaign_id, c.assignment_id, c.treated, w.spend, w.pre_spend, w.pre_purchases,
       w.redeemed_amount, w.redemptions, o.discount_pct, o.bonus_points,
       EXISTS (SELECT 1 FROM offer_events e WHERE e.assignment_id = c.assignment_id
               AND e.event_type = 'unsubscribed') AS opted_out
FROM campaigns c JOIN window_spend w USING (assignment_id) JOIN offers o ON o.offer_id = c.offer_id
ORDER BY c.assignment_id
"""


def assignment_outcomes(dataset_dir: Path) -> pd.DataFrame:
    """Per assignment: ``campaign_id``, ``treated``, ``spend`` and ``margin`` in the label window, ``pre_spend``."""
    window = int(read_manifest(dataset_dir)["config"]["label_window_days"])
    con = open_duckdb()
    register_views(con, dataset_dir, ("campaigns", "transactions", "offers", "offer_events"))
    rows = con.execute(_ASSIGNMENT_OUTCOMES_SQL, {"window": window, "pre": PRE_PERIOD_DAYS}).df()
    con.close()
    sent = rows["treated"].to_numpy(bool)
    pre_basket = rows["pre_spend"] / rows["pre_purchases"].where(rows["pre_purchases"] > 0)
    redemption_cost = (
        rows["discount_pct"] / 100.0 * DISCOUNTED_SHARE * rows["redeemed_amount"]
        + POINT_VALUE_EUR * rows["bonus_points"] * rows["redemptions"]
    )
    opt_out_loss = rows["opted_out"] * OPT_OUT_LOSS_BASKETS * GROSS_MARGIN * pre_basket.fillna(0.0)
    rows["margin"] = GROSS_MARGIN * rows["spend"] - np.where(sent, SEND_COST_EUR + redemption_cost + opt_out_loss, 0.0)
    return rows[["campaign_id", "assignment_id", "treated", "spend", "margin", "pre_spend"]]


@dataclass(frozen=True)
class Effect:
    """Difference of means treated - hold-out with its confidence interval."""

    estimate: float
    low: float
    high: float
    std_error: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


def difference_in_means(y: np.ndarray, treated: np.ndarray, confidence: float = CONFIDENCE) -> Effect:
    """Treated minus control mean with a Welch normal interval.

    Raises:
        InvalidInputError: an arm has fewer than two customers.
    """
    yt, yc = y[treated], y[~treated]
    if len(yt) < 2 or len(yc) < 2:
        raise InvalidInputError(f"each arm needs at least 2 customers, got {len(yt)} treated and {len(yc)} held out")
    estimate = float(yt.mean() - yc.mean())
    se = float(np.sqrt(yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc)))
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    return Effect(estimate, estimate - z * se, estimate + z * se, se)


def cuped_adjust(y: np.ndarray, covariate: np.ndarray) -> np.ndarray:
    """``y - theta * (covariate - mean)`` with ``theta = cov(y, covariate) / var(covariate)`` (0 if constant)."""
    variance = covariate.var()
    theta = 0.0 if variance == 0 else float(np.cov(y, covariate, ddof=0)[0, 1] / variance)
    return y - theta * (covariate - covariate.mean())


def campaign_effects(outcomes: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per campaign and outcome: raw and CUPED effects of sending with intervals.

    Columns: ``campaign_id``, ``outcome``, ``treated``, ``held_out``, ``raw``, ``raw_low``, ``raw_high``,
    ``estimate``, ``low``, ``high`` (CUPED), ``variance_reduction`` (share of the raw interval's squared width
    CUPED removed).
    """
    rows = []
    for campaign_id, group in outcomes.groupby("campaign_id", sort=True):
        treated = group["treated"].to_numpy(bool)
        pre = group["pre_spend"].to_numpy(np.float64)
        for outcome in OUTCOMES:
            y = group[outcome].to_numpy(np.float64)
            raw = difference_in_means(y, treated, confidence)
            cuped = difference_in_means(cuped_adjust(y, pre), treated, confidence)
            rows.append(
                {
                    "campaign_id": int(campaign_id),
                    "outcome": outcome,
                    "treated": int(treated.sum()),
                    "held_out": int((~treated).sum()),
                    "raw": raw.estimate,
                    "raw_low": raw.low,
                    "raw_high": raw.high,
                    "estimate": cuped.estimate,
                    "low": cuped.low,
                    "high": cuped.high,
                    "variance_reduction": 1.0 - (cuped.std_error / raw.std_error) ** 2 if raw.std_error else 0.0,
                }
            )
    return pd.DataFrame(rows)


def analyse_campaigns(dataset_dir: Path, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """``campaign_effects`` of every campaign of a dataset."""
    return campaign_effects(assignment_outcomes(Path(dataset_dir)), confidence)


def coverage_against_truth(effects: pd.DataFrame, dataset_dir: Path) -> pd.DataFrame:
    """``effects`` with the true effect of each (campaign, outcome) and whether the CUPED interval covers it.

    Evaluation only: reads the simulator's hidden potential outcomes (``loyaltylens.groundtruth``).
    """
    from loyaltylens.groundtruth import campaign_effect_truth

    truth = campaign_effect_truth(Path(dataset_dir)).melt(
        id_vars="campaign_id",
        value_vars=["true_spend_effect", "true_margin_effect"],
        var_name="outcome",
        value_name="truth",
    )
    truth["outcome"] = truth["outcome"].str.removeprefix("true_").str.removesuffix("_effect")
    merged = effects.merge(truth, on=["campaign_id", "outcome"], how="left", validate="one_to_one")
    merged["covered"] = (merged["low"] <= merged["truth"]) & (merged["truth"] <= merged["high"])
    return merged
