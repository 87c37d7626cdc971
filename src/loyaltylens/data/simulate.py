"""Simulate one chunk of customers over the whole period: purchases, campaigns, offer events and their truth.

Vectorised over customers; the only Python loops are over campaigns (a few dozen) and categories.
Baseline purchases do not depend on offers, so they are drawn for all days at once as a ``[D, C]``
Poisson matrix (D days, C customers in the chunk). Campaigns then run in order: each one computes
every customer's feature state at send time from the purchases and offer events before it, draws
who is targeted and which offer they get, and draws the redemption outcome from the true propensity.
A redemption adds one purchase on top of the baseline, so ``bought/spend_if_control`` are the
baseline in the label window and ``*_if_treated`` add the redemption (drawn for both arms).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from loyaltylens.data.behaviour import (
    BASKET_SIGMA,
    LONG_WINDOW_DAYS,
    OFFER_HISTORY_DAYS,
    OPEN_RATE_PRIOR,
    RATE_PRIOR_STRENGTH,
    RECENCY_CAP_DAYS,
    REDEMPTION_RATE_PRIOR,
    SEND_HOUR,
    SHOP_HOUR_WEIGHTS,
    SHOP_HOURS,
    SHORT_WINDOW_DAYS,
    redemption_logit,
    sigmoid,
)
from loyaltylens.data.offers import OfferCatalogue
from loyaltylens.data.population import Population, sample_rows
from loyaltylens.data.schema import EVENT_TYPES, OFFER_CHANNELS, TABLE_SCHEMAS, TRUTH_SCHEMAS, labels
from loyaltylens.vocabulary import CHANNELS, PRODUCT_CATEGORIES

if TYPE_CHECKING:
    from loyaltylens.data.generator import GeneratorConfig

DAY = 86_400  # seconds; all times inside the simulation are integer seconds since the start date
PREFERRED_CHANNEL_SHARE = 0.8  # share of a customer's purchases on their preferred channel
MOBILE = CHANNELS.index("mobile")
SENT, OPENED, REDEEMED = (EVENT_TYPES.index(e) for e in ("sent", "opened", "redeemed"))


def campaign_days(config: GeneratorConfig) -> np.ndarray:
    """Send days of all campaigns: every ``campaign_every_days`` while the label window fits in the period."""
    last = config.n_days - config.label_window_days
    return np.arange(config.campaign_every_days, last + 1, config.campaign_every_days)


@dataclass
class ChunkTables:
    """The tables of one chunk, with ids starting at the offsets passed in, plus what the manifest reports."""

    transactions: pa.Table
    campaigns: pa.Table
    offer_events: pa.Table
    assignments_truth: pa.Table
    treated_p_redeem: np.ndarray  # p_redeem of treated assignments, for the oracle AUC
    treated_redeemed: np.ndarray  # their realised redemption


@dataclass
class Purchases:
    """Purchases as parallel arrays (``customer`` is the row in the chunk, ``second`` since the start)."""

    customer: np.ndarray
    second: np.ndarray
    amount: np.ndarray
    category: np.ndarray
    channel: np.ndarray
    offer_id: np.ndarray  # 0 = no offer


@dataclass
class OfferHistory:
    """Realised offer events per campaign and customer, ``[K, C]`` seconds (NaN = no such event)."""

    sent: np.ndarray
    opened: np.ndarray
    redeemed: np.ndarray
    redeemed_amount: np.ndarray  # amount of the redemption purchase, 0 if none

    @classmethod
    def empty(cls, n_campaigns: int, n_customers: int) -> OfferHistory:
        shape = (n_campaigns, n_customers)
        return cls(np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape))


@dataclass
class Baseline:
    """Offer-independent purchases and their ``[D, C]`` daily aggregates."""

    purchases: Purchases
    counts: np.ndarray  # purchases per day and customer
    spend: np.ndarray  # amount spent per day and customer
    last_second: np.ndarray  # time of the day's last purchase, -inf if none


@dataclass
class Assignments:
    """Offer assignments (both arms) as parallel arrays; ``customer`` is the row in the chunk."""

    campaign_id: np.ndarray
    customer: np.ndarray
    offer_index: np.ndarray  # row in the offer catalogue
    treated: np.ndarray
    logging_probability: np.ndarray
    sent_second: np.ndarray
    p_redeem: np.ndarray
    redeemed_if_treated: np.ndarray  # potential outcomes, drawn for both arms
    opened_if_treated: np.ndarray
    open_second: np.ndarray
    redemption_second: np.ndarray
    redemption_amount: np.ndarray
    spend_if_control: np.ndarray  # baseline purchases in the label window (the same in both arms)
    bought_if_control: np.ndarray

    @classmethod
    def concat(cls, parts: list[Assignments]) -> Assignments:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))


def _in_window(seconds: np.ndarray, as_of: int, days: int) -> np.ndarray:
    """Events in ``[as_of - days, as_of)``; NaN compares False, so missing events never count."""
    return (seconds >= as_of - days * DAY) & (seconds < as_of)


def _smoothed_rate(hits: np.ndarray, trials: np.ndarray, prior: float) -> np.ndarray:
    return np.minimum(1.0, (hits + RATE_PRIOR_STRENGTH * prior) / (trials + RATE_PRIOR_STRENGTH))


def customer_state(
    day: int, baseline: Baseline, last_baseline_second: np.ndarray, history: OfferHistory, n_past: int
) -> dict[str, np.ndarray]:
    """The features the redemption logit reads, as of midnight of ``day``, using only earlier events.

    Mirrors ``loyaltylens.features.compute`` (same windows, caps and priors); a test checks that both agree.
    ``last_baseline_second`` is the last baseline purchase before ``day``; ``n_past`` campaigns precede it.
    """
    as_of = day * DAY
    past = slice(0, n_past)
    redeemed = history.redeemed[past]  # (K_past, C): redemption purchases are purchases too

    last_redemption = np.where(redeemed < as_of, redeemed, -np.inf).max(axis=0, initial=-np.inf)
    last_purchase = np.maximum(last_baseline_second, last_redemption)
    recency = np.minimum(RECENCY_CAP_DAYS, (as_of - last_purchase) / DAY)  # no purchase: inf -> cap

    def purchases_in(days: int) -> np.ndarray:
        baseline_purchases = baseline.counts[max(0, day - days) : day].sum(axis=0)
        return baseline_purchases + _in_window(redeemed, as_of, days).sum(axis=0)

    frequency_90d = purchases_in(LONG_WINDOW_DAYS)
    monetary_90d = baseline.spend[max(0, day - LONG_WINDOW_DAYS) : day].sum(axis=0) + np.where(
        _in_window(redeemed, as_of, LONG_WINDOW_DAYS), history.redeemed_amount[past], 0.0
    ).sum(axis=0)
    received = _in_window(history.sent[past], as_of, OFFER_HISTORY_DAYS).sum(axis=0)
    opened = _in_window(history.opened[past], as_of, OFFER_HISTORY_DAYS).sum(axis=0)
    redeemed_180d = _in_window(redeemed, as_of, OFFER_HISTORY_DAYS).sum(axis=0)
    return {
        "recency_days": recency,
        "frequency_30d": purchases_in(SHORT_WINDOW_DAYS).astype(float),
        "monetary_90d": monetary_90d,
        "avg_basket_90d": np.divide(
            monetary_90d, frequency_90d, out=np.zeros_like(monetary_90d), where=frequency_90d > 0
        ),
        "offer_redemption_rate": _smoothed_rate(redeemed_180d, received, REDEMPTION_RATE_PRIOR),
        "engagement_score": _smoothed_rate(opened, received, OPEN_RATE_PRIOR),
    }


def _draw_baseline(pop: Population, day_factor: np.ndarray, rng: np.random.Generator) -> Baseline:
    """Offer-independent purchases of every customer on every day."""
    n_days, n_customers = len(day_factor), len(pop)
    day_index = np.arange(n_days)[:, None]
    alive = (day_index >= np.maximum(pop.signup_day, 0)) & (day_index < pop.churn_day)  # (D, C)
    counts = rng.poisson(day_factor[:, None] * pop.activity_rate * alive)  # (D, C)

    cell = np.repeat(np.arange(counts.size), counts.ravel())  # one entry per purchase: day * C + customer
    day, customer = np.divmod(cell, n_customers)
    n = len(cell)
    second = day * DAY + _shop_second(n, rng)
    basket_noise = rng.lognormal(-(BASKET_SIGMA**2) / 2, BASKET_SIGMA, n)
    amount = np.maximum(0.5, np.round(pop.basket_mean[customer] * basket_noise, 2))
    category = sample_rows(np.cumsum(pop.category_affinity, axis=1), customer, rng.random(n))
    channel = sample_rows(np.cumsum(_channel_probabilities(pop), axis=1), customer, rng.random(n))

    spend = np.bincount(cell, weights=amount, minlength=counts.size).reshape(counts.shape)
    last_second = np.full(counts.size, -np.inf)
    np.maximum.at(last_second, cell, second)
    return Baseline(
        purchases=Purchases(customer, second, amount, category, channel, np.zeros(n, dtype=np.int64)),
        counts=counts,
        spend=spend,
        last_second=last_second.reshape(counts.shape),
    )


def _channel_probabilities(pop: Population) -> np.ndarray:
    """``[C, 3]`` purchase-channel mix: mostly the preferred channel, the rest over other reachable ones."""
    reachable = np.ones((len(pop), len(CHANNELS)))
    reachable[~pop.has_app, MOBILE] = 0.0
    preferred = np.zeros_like(reachable)
    preferred[np.arange(len(pop)), pop.channel_preference] = 1.0
    others = reachable * (1.0 - preferred)
    others_total = others.sum(axis=1, keepdims=True)
    spill = np.divide(others, others_total, out=np.zeros_like(others), where=others_total > 0)
    share = np.where(others_total > 0, PREFERRED_CHANNEL_SHARE, 1.0)
    return share * preferred + (1.0 - share) * spill


def _shop_second(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random seconds of the day within shop hours, busier at lunch and after work."""
    hour = rng.choice(SHOP_HOURS, n, p=SHOP_HOUR_WEIGHTS / SHOP_HOUR_WEIGHTS.sum())
    return hour * 3600 + rng.integers(0, 3600, n)


def simulate_chunk(
    pop: Population,
    offers: OfferCatalogue,
    day_factor: np.ndarray,
    config: GeneratorConfig,
    rng: np.random.Generator,
    start_epoch_second: int,
    first_txn_id: int,
    first_assignment_id: int,
) -> ChunkTables:
    """Simulate the customers of ``pop`` and return their rows of every event table and truth table."""
    baseline = _draw_baseline(pop, day_factor, rng)
    days = campaign_days(config)
    history = OfferHistory.empty(len(days), len(pop))
    last_baseline = np.full(len(pop), -np.inf)  # last baseline purchase before the current campaign
    scanned_until = 0
    campaigns = []
    for k, day in enumerate(days):
        since_previous = baseline.last_second[scanned_until:day].max(axis=0, initial=-np.inf)
        last_baseline, scanned_until = np.maximum(last_baseline, since_previous), day
        state = customer_state(day, baseline, last_baseline, history, k)
        campaigns.append(_run_campaign(k, day, state, baseline, pop, offers, config, history, rng))

    assignments = Assignments.concat(campaigns)
    assignment_id = first_assignment_id + np.arange(len(assignments.customer), dtype=np.int64)
    redemptions = _redemption_purchases(pop, offers, assignments)
    timestamps = _Timestamps(start_epoch_second)
    return ChunkTables(
        transactions=_transactions_table(pop, baseline.purchases, redemptions, first_txn_id, timestamps),
        campaigns=_campaigns_table(pop, offers, assignments, assignment_id, timestamps),
        offer_events=_offer_events_table(pop, offers, assignments, assignment_id, timestamps),
        assignments_truth=_assignments_truth_table(pop, offers, assignments, assignment_id),
        treated_p_redeem=assignments.p_redeem[assignments.treated],
        treated_redeemed=assignments.redeemed_if_treated[assignments.treated],
    )


def _run_campaign(
    k: int,
    day: int,
    state: dict[str, np.ndarray],
    baseline: Baseline,
    pop: Population,
    offers: OfferCatalogue,
    config: GeneratorConfig,
    history: OfferHistory,
    rng: np.random.Generator,
) -> Assignments:
    """Target, assign offers and arms, draw potential outcomes, and record realised events in ``history``."""
    n = len(pop)
    window = config.label_window_days
    # Every random number is drawn for every customer, so the stream does not depend on who is targeted.
    (
        target_draw,
        arm_draw,
        offer_draw,
        redeem_draw,
        open_draw,
        delay_draw,
        open_delay_draw,
        open_share_draw,
        amount_draw,
    ) = rng.random((9, n))
    redemption_day = day + np.floor(window * delay_draw**2).astype(np.int64)  # sooner is likelier
    redemption_second_draw = redemption_day * DAY + _shop_second(n, rng)
    redemption_basket = pop.basket_mean * rng.lognormal(-(BASKET_SIGMA**2) / 2, BASKET_SIGMA, n)

    # Offers active over the whole label window; mobile offers only reach customers with the app.
    active = (offers.start_day <= day) & (offers.end_day >= day + window - 1)
    pool_with_app = np.flatnonzero(active)
    pool_without_app = np.flatnonzero(active & (offers.channel != OFFER_CHANNELS.index("mobile")))
    pool_size = np.where(pop.has_app, len(pool_with_app), len(pool_without_app))
    pick = np.floor(offer_draw * pool_size).astype(np.int64)
    offer_index = np.where(
        pop.has_app,
        np.append(pool_with_app, -1)[np.minimum(pick, len(pool_with_app))],
        np.append(pool_without_app, -1)[np.minimum(pick, len(pool_without_app))],
    )

    members = pop.signup_day < day
    targeted = members & (target_draw < config.target_share) & (pool_size > 0)
    t = np.flatnonzero(targeted)  # chunk rows of this campaign's assignments
    o = offer_index[t]
    treated = arm_draw[t] >= config.holdout_share
    arm_share = np.where(treated, 1.0 - config.holdout_share, config.holdout_share)

    p_redeem = sigmoid(
        redemption_logit(
            {name: values[t] for name, values in state.items()},
            deal_proneness=pop.deal_proneness[t],
            price_sensitivity=pop.price_sensitivity[t],
            category_affinity=pop.category_affinity[t, offers.category[o]],
            segment=pop.segment[t],
            channel_preference=pop.channel_preference[t],
            discount_pct=offers.discount_pct[o],
            offer_channel=offers.channel[o],
            min_spend=offers.min_spend[o],
        )
    )
    redeems = redeem_draw[t] < p_redeem
    redemption_amount = np.round(
        np.maximum(offers.min_spend[o] * (1.0 + 0.25 * amount_draw[t]), redemption_basket[t]), 2
    )

    sent_second = day * DAY + SEND_HOUR * 3600
    redemption_second = redemption_second_draw[t]
    opens = redeems | (open_draw[t] < pop.open_propensity[t])  # a redemption implies the offer was opened
    open_second = np.where(
        redeems,
        sent_second + np.floor(0.9 * open_share_draw[t] * (redemption_second - sent_second)),
        sent_second + np.minimum(np.floor(-np.log1p(-open_delay_draw[t]) * 0.8 * DAY), window * DAY - 1),
    ).astype(np.int64)

    label_window = slice(day, day + window)
    history.sent[k, t[treated]] = sent_second
    history.opened[k, t[treated & opens]] = open_second[treated & opens]
    history.redeemed[k, t[treated & redeems]] = redemption_second[treated & redeems]
    history.redeemed_amount[k, t[treated & redeems]] = redemption_amount[treated & redeems]

    return Assignments(
        campaign_id=np.full(len(t), k + 1, dtype=np.int32),
        customer=t,
        offer_index=o,
        treated=treated,
        logging_probability=config.target_share / pool_size[t] * arm_share,
        sent_second=np.full(len(t), sent_second, dtype=np.int64),
        p_redeem=p_redeem,
        redeemed_if_treated=redeems,
        opened_if_treated=opens,
        open_second=open_second,
        redemption_second=redemption_second,
        redemption_amount=redemption_amount,
        spend_if_control=baseline.spend[label_window].sum(axis=0)[t],
        bought_if_control=baseline.counts[label_window].sum(axis=0)[t] > 0,
    )


@dataclass(frozen=True)
class _Timestamps:
    """Converts simulation seconds into Arrow timestamps."""

    start_epoch_second: int

    def __call__(self, second: np.ndarray) -> pa.Array:
        return pa.array((self.start_epoch_second + second) * 1_000_000, pa.int64()).cast(pa.timestamp("us"))


def _redemption_purchases(pop: Population, offers: OfferCatalogue, assignments: Assignments) -> Purchases:
    """Realised redemptions as purchases of the offer's category, on its channel (or the preferred one)."""
    realised = np.flatnonzero(assignments.treated & assignments.redeemed_if_treated)
    customer = assignments.customer[realised]
    offer = assignments.offer_index[realised]
    offer_channel = offers.channel[offer]
    return Purchases(
        customer=customer,
        second=assignments.redemption_second[realised],
        amount=assignments.redemption_amount[realised],
        category=offers.category[offer],
        channel=np.where(
            offer_channel == OFFER_CHANNELS.index("any"), pop.channel_preference[customer], offer_channel
        ),
        offer_id=offers.offer_id[offer],
    )


def _transactions_table(
    pop: Population, baseline: Purchases, redemptions: Purchases, first_txn_id: int, timestamps: _Timestamps
) -> pa.Table:
    purchases = Purchases(
        *(
            np.concatenate([getattr(baseline, f.name), getattr(redemptions, f.name)])
            for f in fields(Purchases)
        )
    )
    order = np.lexsort((purchases.customer, purchases.second))  # by time, then customer
    offer_id = purchases.offer_id[order]
    return pa.Table.from_arrays(
        [
            pa.array(first_txn_id + np.arange(len(order), dtype=np.int64)),
            pa.array(pop.customer_id[purchases.customer[order]]),
            timestamps(purchases.second[order]),
            pa.array(purchases.amount[order]),
            labels(purchases.category[order], PRODUCT_CATEGORIES),
            labels(purchases.channel[order], CHANNELS),
            pa.array(offer_id, mask=offer_id == 0),
        ],
        schema=TABLE_SCHEMAS["transactions"],
    )


def _campaigns_table(
    pop: Population,
    offers: OfferCatalogue,
    a: Assignments,
    assignment_id: np.ndarray,
    timestamps: _Timestamps,
) -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array(assignment_id),
            pa.array(a.campaign_id),
            pa.array(pop.customer_id[a.customer]),
            pa.array(offers.offer_id[a.offer_index]),
            timestamps(a.sent_second),
            pa.array(a.treated),
            pa.array(a.logging_probability),
        ],
        schema=TABLE_SCHEMAS["campaigns"],
    )


def _offer_events_table(
    pop: Population,
    offers: OfferCatalogue,
    a: Assignments,
    assignment_id: np.ndarray,
    timestamps: _Timestamps,
) -> pa.Table:
    """Events exist only for treated assignments: sent always, opened and redeemed when they happened."""
    rows_by_kind = [
        np.flatnonzero(a.treated),
        np.flatnonzero(a.treated & a.opened_if_treated),
        np.flatnonzero(a.treated & a.redeemed_if_treated),
    ]
    seconds_by_kind = [a.sent_second, a.open_second, a.redemption_second]
    rows = np.concatenate(rows_by_kind)
    seconds = np.concatenate([s[r] for s, r in zip(seconds_by_kind, rows_by_kind, strict=True)])
    kinds = np.repeat([SENT, OPENED, REDEEMED], [len(r) for r in rows_by_kind])
    order = np.lexsort((kinds, rows, seconds))  # by time, then assignment, then sent < opened < redeemed
    rows, seconds, kinds = rows[order], seconds[order], kinds[order]
    return pa.Table.from_arrays(
        [
            pa.array(pop.customer_id[a.customer[rows]]),
            pa.array(offers.offer_id[a.offer_index[rows]]),
            pa.array(assignment_id[rows]),
            timestamps(seconds),
            labels(kinds, EVENT_TYPES),
        ],
        schema=TABLE_SCHEMAS["offer_events"],
    )


def _assignments_truth_table(
    pop: Population, offers: OfferCatalogue, a: Assignments, assignment_id: np.ndarray
) -> pa.Table:
    redemption_value = np.where(a.redeemed_if_treated, a.redemption_amount, 0.0)
    return pa.Table.from_arrays(
        [
            pa.array(assignment_id),
            pa.array(pop.customer_id[a.customer]),
            pa.array(a.campaign_id),
            pa.array(offers.offer_id[a.offer_index]),
            pa.array(a.treated),
            pa.array(a.p_redeem),
            pa.array(a.redeemed_if_treated),
            pa.array(a.bought_if_control | a.redeemed_if_treated),
            pa.array(a.bought_if_control),
            pa.array(np.round(a.spend_if_control + redemption_value, 2)),
            pa.array(np.round(a.spend_if_control, 2)),
        ],
        schema=TRUTH_SCHEMAS["assignments_truth"],
    )
