"""The send decision of one campaign: each customer's best offer by expected incremental margin, sent only when
that margin is positive, within the campaign's budget and contact cap; otherwise no offer, with the reason.

One function serves both paths: the batch campaign decisions and ``DecisionChain`` (one customer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CUSTOMER, OFFER, MARGIN, COST = "customer_id", "offer_id", "expected_margin", "expected_cost"
NO_POSITIVE_MARGIN, OVER_BUDGET, OVER_CAP = "no offer earns money", "campaign budget spent", "contact cap reached"


@dataclass(frozen=True)
class SendLimits:
    """Per-campaign limits: most expected discount + points spend (EUR) and most offers sent; None = no limit."""

    budget_eur: float | None = None
    contact_cap: int | None = None


def decide_campaign(candidates: pd.DataFrame, limits: SendLimits | None = None) -> pd.DataFrame:
    """One row per customer of ``candidates`` (``customer_id``, ``offer_id``, ``expected_margin`` and
    ``expected_cost`` = p_redeem x redemption cost, one row per eligible pair) with the chosen ``offer_id`` (or
    NA), ``send``, its ``expected_margin`` and a ``reason``.

    Customers are served in decreasing order of their best margin, so a budget or cap drops the least
    profitable sends first. Ties keep the candidates' order (each customer's first best offer; then customer ids
    in increasing order). Array operations only: a campaign's million pairs take well under a second.
    """
    limits = limits or SendLimits()
    customer, margin = candidates[CUSTOMER].to_numpy(), candidates[MARGIN].to_numpy()
    by_customer = np.lexsort((-margin, customer))  # stable: by customer, best margin first
    ordered = customer[by_customer]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    best_rows = by_customer[first]
    best_rows = best_rows[np.argsort(-margin[best_rows], kind="stable")]
    best = candidates.iloc[best_rows][[CUSTOMER, OFFER, MARGIN, COST]].reset_index(drop=True)
    best_margin, best_offer = best[MARGIN].to_numpy(), best[OFFER].to_numpy()
    positive = best_margin > 0
    within = positive.copy()
    if limits.budget_eur is not None:
        within &= np.cumsum(np.where(positive, best[COST].to_numpy(), 0.0)) <= limits.budget_eur
    budget_ok = within.copy()
    if limits.contact_cap is not None:
        within &= np.cumsum(within) <= limits.contact_cap
    # The first reason that applies: sent, no offer earns money, budget spent, else the cap.
    reason = np.full(len(best), OVER_CAP, dtype=object)
    reason[~budget_ok] = OVER_BUDGET
    reason[~positive] = [_no_offer_reason(m) for m in best_margin[~positive]]
    reason[within] = [_send_reason(o, m) for o, m in zip(best_offer[within], best_margin[within], strict=True)]
    return best.assign(send=within, **{OFFER: best[OFFER].where(within).astype("Int64")}, reason=reason)[
        [CUSTOMER, OFFER, "send", MARGIN, COST, "reason"]
    ]


def choose_offer(offer_ids: np.ndarray, expected_margin: np.ndarray) -> tuple[int | None, str]:
    """One customer's decision without campaign limits (the online path): the offer with the highest expected
    margin if it is positive, else none; with the reason, worded as :func:`decide_campaign` words it."""
    best = int(np.argmax(expected_margin))
    margin = float(expected_margin[best])
    if margin > 0:
        return int(offer_ids[best]), _send_reason(int(offer_ids[best]), margin)
    return None, _no_offer_reason(margin)


def _send_reason(offer_id: int, margin: float) -> str:
    return f"offer #{offer_id}: expected margin {margin:+.2f} EUR > 0"


def _no_offer_reason(margin: float) -> str:
    return f"{NO_POSITIVE_MARGIN} (best {margin:+.2f} EUR)"
