"""The customers: public attributes (``customers``) and hidden traits (``truth/customers_truth``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from loyaltylens.data.behaviour import (
    CHURN_SHARE,
    LATE_SIGNUP_SHARE,
    SEGMENT_PROFILES,
    SIGNUP_HISTORY_DAYS,
    sigmoid,
)
from loyaltylens.data.schema import TABLE_SCHEMAS, TRUTH_SCHEMAS, labels
from loyaltylens.vocabulary import CHANNELS, PRODUCT_CATEGORIES, SEGMENT_SHARES, SEGMENTS

if TYPE_CHECKING:
    from loyaltylens.data.config import GeneratorConfig

# Dirichlet concentration of personal category affinities around the segment's weights:
# low enough that customers differ in favourite category, high enough that segments stay recognisable.
AFFINITY_CONCENTRATION = 4.0
ACTIVITY_SIGMA = 0.6  # lognormal spread of personal purchase frequency
TRAIT_SIGMA = 0.3  # lognormal spread of basket size and price sensitivity
FATIGUE_SIGMA = 0.7  # lognormal spread of fatigue sensitivity: a few customers are easily annoyed


@dataclass(frozen=True)
class Population:
    """All customers as parallel arrays; row ``i`` is one customer. Categoricals are vocab codes."""

    customer_id: np.ndarray  # int64
    segment: np.ndarray  # code into vocab.SEGMENTS
    channel_preference: np.ndarray  # code into vocab.CHANNELS
    has_app: np.ndarray  # bool
    signup_day: np.ndarray  # day index relative to the start; negative = joined before the period
    churn_day: np.ndarray  # first day without purchases; n_days = does not churn within the period
    activity_rate: np.ndarray  # expected purchases per day before calendar effects
    basket_mean: np.ndarray
    deal_proneness: np.ndarray
    open_propensity: np.ndarray
    price_sensitivity: np.ndarray
    fatigue_sensitivity: np.ndarray  # how much earlier sends annoy (lower redemption, raise opt-out)
    category_affinity: np.ndarray  # [N, len(PRODUCT_CATEGORIES)], rows sum to 1

    def __len__(self) -> int:
        return len(self.customer_id)

    def rows(self, start: int, stop: int) -> Population:
        """The customers in rows ``start:stop`` (views, no copy)."""
        return Population(**{f.name: getattr(self, f.name)[start:stop] for f in fields(self)})

    def customers_table(self, start_date: date) -> pa.Table:
        """The public ``customers`` table."""
        signup = np.datetime64(start_date, "D").astype(np.int64) + self.signup_day
        return pa.Table.from_arrays(
            [
                pa.array(self.customer_id),
                labels(self.segment, SEGMENTS),
                labels(self.channel_preference, CHANNELS),
                pa.array(self.has_app),
                pa.array(signup.astype(np.int32), pa.int32()).cast(pa.date32()),
            ],
            schema=TABLE_SCHEMAS["customers"],
        )

    def truth_table(self, n_days: int) -> pa.Table:
        """The hidden ``truth/customers_truth`` table."""
        churns = self.churn_day < n_days
        columns = [
            pa.array(self.customer_id),
            pa.array(self.activity_rate),
            pa.array(self.basket_mean),
            pa.array(self.deal_proneness),
            pa.array(self.open_propensity),
            pa.array(self.price_sensitivity),
            pa.array(self.fatigue_sensitivity),
            pa.array(self.churn_day.astype(np.int32), mask=~churns),
            *[pa.array(self.category_affinity[:, i]) for i in range(len(PRODUCT_CATEGORIES))],
        ]
        return pa.Table.from_arrays(columns, schema=TRUTH_SCHEMAS["customers_truth"])


def quota_codes(shares: tuple[float, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` codes in random order with exactly ``round(share * n)`` of each (largest remainder), so realised
    shares match the target at any ``n`` instead of only on average."""
    exact = np.asarray(shares) * n
    counts = np.floor(exact).astype(np.int64)
    by_remainder = np.argsort(-(exact - counts), kind="stable")
    counts[by_remainder[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(len(shares), dtype=np.int8), counts))


def sample_rows(cumulative: np.ndarray, rows: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """One draw per element from the categorical distribution in ``cumulative[rows]`` (row-wise CDFs).

    Loops over the few categories, not the many rows, so memory stays at one column per step.
    """
    codes = np.zeros(len(rows), dtype=np.int8)
    for k in range(cumulative.shape[1] - 1):
        codes += uniform >= cumulative[rows, k]
    return codes


def _lognormal_mean_one(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    return rng.lognormal(-(sigma**2) / 2, sigma, n)


def generate_population(config: GeneratorConfig, rng: np.random.Generator) -> Population:
    """Draw every customer's segment (by exact quota), channel, sign-up, churn and hidden traits."""
    n = config.n_customers
    profiles = [SEGMENT_PROFILES[s] for s in SEGMENTS]
    segment = quota_codes(SEGMENT_SHARES, n, rng)

    channel_cdf = np.cumsum([p.channel_mix for p in profiles], axis=1)
    channel_preference = sample_rows(channel_cdf, segment, rng.random(n))
    app_share = np.array([p.app_share for p in profiles])[segment]
    has_app = (channel_preference == CHANNELS.index("mobile")) | (rng.random(n) < app_share)

    joins_late = rng.random(n) < LATE_SIGNUP_SHARE
    late_day = rng.integers(1, max(2, int(0.85 * config.n_days)), n)
    signup_day = np.where(joins_late, late_day, -rng.integers(1, SIGNUP_HISTORY_DAYS + 1, n))
    churns = rng.random(n) < CHURN_SHARE
    churn_day = np.where(churns, rng.integers(np.maximum(signup_day, 0) + 1, config.n_days), config.n_days)

    trips = np.array([p.trips_per_week for p in profiles])[segment]
    basket = np.array([p.basket_eur for p in profiles])[segment]
    sensitivity = np.array([p.price_sensitivity for p in profiles])[segment]
    deal_proneness = rng.standard_normal(n)
    # Opening offers and redeeming them are both driven by deal-proneness, so the open rate reveals it.
    open_propensity = sigmoid(-0.6 + 0.9 * deal_proneness + 0.6 * rng.standard_normal(n))

    weights = np.array([p.category_weights for p in profiles])
    alpha = AFFINITY_CONCENTRATION * (weights / weights.sum(axis=1, keepdims=True))[segment]
    gamma = rng.gamma(alpha)
    category_affinity = gamma / gamma.sum(axis=1, keepdims=True)

    return Population(
        customer_id=np.arange(1, n + 1, dtype=np.int64),
        segment=segment,
        channel_preference=channel_preference,
        has_app=has_app,
        signup_day=signup_day.astype(np.int32),
        churn_day=churn_day.astype(np.int32),
        activity_rate=trips / 7.0 * _lognormal_mean_one(rng, ACTIVITY_SIGMA, n),
        basket_mean=basket * _lognormal_mean_one(rng, TRAIT_SIGMA, n),
        deal_proneness=deal_proneness,
        open_propensity=open_propensity,
        price_sensitivity=sensitivity * _lognormal_mean_one(rng, TRAIT_SIGMA, n),
        fatigue_sensitivity=_lognormal_mean_one(rng, FATIGUE_SIGMA, n),
        category_affinity=category_affinity,
    )
