"""The hidden behaviour model: latent customer state, calendar effects, true redemption and its economics.

Everything the simulator needs to know about how customers behave lives here, so the ground truth
can be read in one place. None of it is visible to feature or model code, which only sees the events;
and none of it comes from the feature code: redemption is driven by latent state (an evolving engagement
process, purchase rate, category preferences, price sensitivity, channel habit, fatigue from earlier
sends, churn) that the event tables reveal only through noisy, windowed traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from loyaltylens.data.schema import OFFER_CHANNELS
from loyaltylens.vocabulary import PRODUCT_CATEGORIES, SEGMENTS

# Engagement: a weekly AR(1) process per customer, stationary N(0, 1). It scales the purchase rate (so
# purchase counts are a noisy, lagged proxy of it) and the redemption odds.
ENGAGEMENT_PERSISTENCE = 0.85  # week-to-week autocorrelation
ENGAGEMENT_PURCHASE_EFFECT = 0.35  # log purchase-rate change per standard deviation
ENGAGEMENT_REDEMPTION_EFFECT = 0.6  # redemption logit change per standard deviation
# Fatigue: every offer sent adds one unit that halves every FATIGUE_HALF_LIFE_DAYS (the simulator's own
# memory, unrelated to any feature window). It lowers redemption odds and raises the odds of opting out.
FATIGUE_HALF_LIFE_DAYS = 21.0
OPT_OUT_INTERCEPT = -5.6  # logit of opting out of offers after one send to a rested, average customer

# Economics of one send, in EUR: the retailer earns GROSS_MARGIN of a basket; a redemption costs the
# discount on the offer's category in the redeemed basket plus the offer's bonus points; every send costs
# SEND_COST_EUR; a customer who opts out is worth OPT_OUT_LOSS_BASKETS baskets of margin less (the future
# offers they will not get).
GROSS_MARGIN = 0.30
DISCOUNTED_SHARE = 0.4  # share of a redeemed basket in the offer's category, which the discount applies to
POINT_VALUE_EUR = 0.01
SEND_COST_EUR = 0.02
OPT_OUT_LOSS_BASKETS = 1.5


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


def fatigue_decay(days: float) -> float:
    """Share of fatigue left after ``days`` days."""
    return 0.5 ** (days / FATIGUE_HALF_LIFE_DAYS)


# Channel term of the redemption logit, indexed [preferred channel, offer channel (schema.OFFER_CHANNELS)]:
# an offer on the channel the customer uses is easy to redeem, one on another channel much less so.
_CHANNEL_MATCH = 0.4
_CHANNEL_ANY = 0.1
_CHANNEL_MISMATCH = -0.7
CHANNEL_TERM = np.full((3, len(OFFER_CHANNELS)), _CHANNEL_MISMATCH)
CHANNEL_TERM[np.arange(3), np.arange(3)] = _CHANNEL_MATCH
CHANNEL_TERM[:, OFFER_CHANNELS.index("any")] = _CHANNEL_ANY
SEGMENT_TERM = np.array([SEGMENT_PROFILES[s].redemption_offset for s in SEGMENTS])
REDEMPTION_INTERCEPT = -3.4


@dataclass(frozen=True)
class PairState:
    """Latent state of (customer, offer) pairs at send time, one element per pair; codes for categoricals."""

    engagement: np.ndarray  # current value of the engagement process (z-score)
    purchase_rate: np.ndarray  # expected purchases per day now (0 once churned)
    deal_proneness: np.ndarray
    price_sensitivity: np.ndarray
    category_affinity: np.ndarray  # affinity for the offer's category (a customer's affinities sum to 1)
    segment: np.ndarray
    channel_preference: np.ndarray
    basket_mean: np.ndarray
    fatigue: np.ndarray  # decayed count of offers sent before
    fatigue_sensitivity: np.ndarray
    discount_pct: np.ndarray
    offer_channel: np.ndarray
    min_spend: np.ndarray
    bonus_points: np.ndarray


def redemption_logit(s: PairState) -> np.ndarray:
    """Logit of the TRUE probability that the customer redeems the offer if it is sent now."""
    habit = (
        ENGAGEMENT_REDEMPTION_EFFECT * s.engagement
        + 0.45 * np.log(7.0 * s.purchase_rate + 0.1)  # regular shoppers are in the shop to redeem
        + 0.6 * s.deal_proneness
    )
    fit = (
        CHANNEL_TERM[s.channel_preference, s.offer_channel]
        + 0.6 * np.clip(np.log(s.category_affinity * len(PRODUCT_CATEGORIES)), -2.0, 2.0)
        + 0.04 * (s.discount_pct - 20.0) * s.price_sensitivity
        + 0.002 * s.bonus_points
        - 0.8 * np.clip(s.min_spend / s.basket_mean - 1.0, 0.0, 2.0)  # a minimum spend above the usual basket
        + SEGMENT_TERM[s.segment]
    )
    return REDEMPTION_INTERCEPT + habit + fit - 0.5 * s.fatigue_sensitivity * s.fatigue


def opt_out_probability(s: PairState) -> np.ndarray:
    """P(the customer opts out of offers after this send): tired, deal-averse customers leave."""
    return sigmoid(OPT_OUT_INTERCEPT + s.fatigue_sensitivity * s.fatigue - 0.4 * s.deal_proneness)


def subsidy_probability(s: PairState, window_days: int) -> np.ndarray:
    """P(the customer buys in the offer's category within the window anyway): a redemption then only
    discounts a purchase that would have happened without the offer."""
    return 1.0 - np.exp(-window_days * s.purchase_rate * s.category_affinity)


def redemption_basket(s: PairState) -> np.ndarray:
    """Expected amount of the redeemed basket: a usual basket, topped up to the minimum spend."""
    return np.maximum(s.basket_mean, 1.125 * s.min_spend)


def incremental_margin(s: PairState, p_redeem: np.ndarray, window_days: int) -> np.ndarray:
    """Expected margin (EUR) of sending the offer minus not sending it.

    A redemption earns the margin of its basket only if the purchase would not have happened anyway, and
    always costs the discount and the points; every send costs the send and risks an opt-out. Deep discounts
    on purchases the customer makes anyway, or sends to tired customers, lose money.
    """
    basket = redemption_basket(s)
    redemption_cost = s.discount_pct / 100.0 * DISCOUNTED_SHARE * basket + POINT_VALUE_EUR * s.bonus_points
    gain_if_redeemed = (1.0 - subsidy_probability(s, window_days)) * GROSS_MARGIN * basket - redemption_cost
    opt_out_loss = opt_out_probability(s) * OPT_OUT_LOSS_BASKETS * GROSS_MARGIN * s.basket_mean
    return p_redeem * gain_if_redeemed - SEND_COST_EUR - opt_out_loss
