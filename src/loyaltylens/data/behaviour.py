"""The hidden behaviour model: segment profiles, calendar effects and the true redemption propensity.

Everything the simulator needs to know about how customers behave lives here, so the ground truth
can be read in one place. None of it is visible to feature or model code, which only sees the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

from loyaltylens.data.schema import OFFER_CHANNELS
from loyaltylens.vocabulary import PRODUCT_CATEGORIES, SEGMENTS

# How the simulated customers remember their own past: the windows and smoothing of the behavioural state
# that drives their redemption propensity. They belong to the simulator, not to the feature code (which it
# never imports); the feature definitions happen to use the same windows today.
RECENCY_CAP_DAYS = 365.0
SHORT_WINDOW_DAYS = 30
LONG_WINDOW_DAYS = 90
OFFER_HISTORY_DAYS = 180
RATE_PRIOR_STRENGTH = 2.0
REDEMPTION_RATE_PRIOR = 0.15
OPEN_RATE_PRIOR = 0.35


@dataclass(frozen=True)
class SegmentProfile:
    """Typical behaviour of one segment; each customer draws personal traits around it."""

    trips_per_week: float
    basket_eur: float
    channel_mix: tuple[float, float, float]  # P(preferred channel) over vocab.CHANNELS
    app_share: float  # P(has the app) for customers who do not prefer mobile
    price_sensitivity: float  # mean of a lognormal trait; scales how much a discount matters
    redemption_offset: float  # segment term of the redemption logit
    category_weights: tuple[float, ...]  # relative affinity per vocab.PRODUCT_CATEGORIES


# fmt: off
#                                  produce dairy bakery meat  bev  snacks house pcare baby frozen
SEGMENT_PROFILES: dict[str, SegmentProfile] = {
    "budget": SegmentProfile(2.6, 22.0, (0.55, 0.35, 0.10), 0.55, 1.4, 0.3,
                             (1.2, 1.2, 1.0, 0.7, 0.9, 1.3, 1.3, 1.0, 0.4, 1.3)),
    "premium": SegmentProfile(0.9, 85.0, (0.45, 0.25, 0.30), 0.60, 0.6, -0.4,
                              (1.3, 1.0, 1.2, 1.5, 1.5, 0.6, 0.6, 1.1, 0.4, 0.5)),
    "family": SegmentProfile(2.1, 55.0, (0.50, 0.40, 0.10), 0.70, 1.1, 0.1,
                             (1.2, 1.3, 1.1, 1.0, 0.9, 1.2, 1.1, 0.9, 1.6, 1.1)),
    "horeca": SegmentProfile(3.2, 140.0, (0.75, 0.10, 0.15), 0.35, 0.9, -0.2,
                             (1.6, 1.3, 1.1, 1.6, 1.6, 0.5, 0.8, 0.3, 0.1, 1.0)),
}
# fmt: on

WEEKDAY_FACTORS = np.array([0.85, 0.85, 0.90, 0.95, 1.10, 1.45, 1.15])  # Monday .. Sunday: weekend peak
MONTH_FACTORS = np.array(  # January .. December: December peak, summer dip
    [0.95, 0.95, 1.00, 1.00, 1.00, 0.95, 0.82, 0.82, 1.00, 1.00, 1.05, 1.30]
)
# Shops trade 07:00-22:00; campaigns go out at SEND_HOUR, before the first purchase of the day can happen,
# so the state a campaign sees at send time equals the features computed as of that midnight.
SHOP_HOURS = np.arange(7, 22)
SHOP_HOUR_WEIGHTS = np.array([2, 4, 5, 6, 8, 8, 6, 5, 6, 8, 10, 10, 8, 5, 3], dtype=float)
SEND_HOUR = 6

BASKET_SIGMA = 0.5  # per-purchase lognormal spread around the customer's basket mean
CHURN_SHARE = 0.3  # share of customers who stop buying at a random day of the period
LATE_SIGNUP_SHARE = 0.15  # share of customers who join during the period
SIGNUP_HISTORY_DAYS = 3 * 365  # the others joined up to this many days before the start


def calendar_factors(start_date: date, n_days: int) -> np.ndarray:
    """Multiplicative purchase-volume factor of each simulated day (weekday x month)."""
    days = np.datetime64(start_date, "D") + np.arange(n_days)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    month = days.astype("datetime64[M]").astype(np.int64) % 12
    return WEEKDAY_FACTORS[weekday] * MONTH_FACTORS[month]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# Channel term of the redemption logit, indexed [preferred channel, offer channel (schema.OFFER_CHANNELS)]:
# an offer on the channel the customer uses is easy to redeem, one on another channel much less so.
_CHANNEL_MATCH = 0.5
_CHANNEL_ANY = 0.2
_CHANNEL_MISMATCH = -0.6
CHANNEL_TERM = np.full((3, len(OFFER_CHANNELS)), _CHANNEL_MISMATCH)
CHANNEL_TERM[np.arange(3), np.arange(3)] = _CHANNEL_MATCH
CHANNEL_TERM[:, OFFER_CHANNELS.index("any")] = _CHANNEL_ANY
SEGMENT_TERM = np.array([SEGMENT_PROFILES[s].redemption_offset for s in SEGMENTS])


def redemption_logit(
    state: Mapping[str, np.ndarray],
    *,
    deal_proneness: np.ndarray,
    price_sensitivity: np.ndarray,
    category_affinity: np.ndarray,
    segment: np.ndarray,
    channel_preference: np.ndarray,
    discount_pct: np.ndarray,
    offer_channel: np.ndarray,
    min_spend: np.ndarray,
) -> np.ndarray:
    """Logit of the TRUE probability that a customer redeems an offer sent now.

    ``state`` holds the customer's features at send time, named and computed exactly as
    ``loyaltylens.features.compute`` does (recency_days, frequency_30d, monetary_90d, avg_basket_90d,
    offer_redemption_rate, engagement_score). The other inputs are hidden traits of the customer
    (``category_affinity`` is the affinity for the offer's category) and attributes of the offer;
    categorical inputs are integer codes. Most of the spread comes from the observable state, so a
    model on the features can learn it; the hidden and offer terms keep it from being perfect.
    """
    habit = (
        0.38 * np.log1p(state["frequency_30d"])  # regular shoppers are in the store to redeem
        - 0.38 * np.log1p(state["recency_days"])  # lapsed customers ignore offers
        + 0.07 * np.log1p(state["monetary_90d"])
    )
    history = (
        2.5 * (state["offer_redemption_rate"] - REDEMPTION_RATE_PRIOR)  # redeemed before, will again
        + 2.0 * (state["engagement_score"] - OPEN_RATE_PRIOR)  # opens offers
        + 0.7 * deal_proneness  # the part of deal-hunting the history has not revealed yet
    )
    fit = (
        CHANNEL_TERM[channel_preference, offer_channel]
        + 0.5 * np.clip(np.log(category_affinity * len(PRODUCT_CATEGORIES)), -2.0, 2.0)
        + 0.04 * (discount_pct - 20.0) * price_sensitivity
        - 0.5 * (min_spend > state["avg_basket_90d"])  # minimum spend above a usual basket is a hurdle
        + SEGMENT_TERM[segment]
    )
    return -2.2 + habit + history + fit
