"""Simulate one chunk of customers over the whole period: purchases, campaigns, offer events and their truth.

Vectorised over customers; the only Python loops are over weeks, campaigns (a few dozen) and categories.
Each customer carries latent state: a weekly engagement process that scales the purchase rate, and
fatigue from earlier sends. Baseline purchases do not depend on offers, so they are drawn for all days at
once as a ``[D, C]`` Poisson matrix (D days, C customers in the chunk). Campaigns then run in order: each
targets members who have not opted out, assigns a random eligible offer and a random arm, and draws the
potential outcomes from the latent state at send time. A redemption either discounts a baseline purchase
of the offer's category in the window (it would have happened anyway: subsidised) or adds a purchase.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from loyaltylens.data.behaviour import (
    BASKET_SIGMA,
    ENGAGEMENT_PERSISTENCE,
    ENGAGEMENT_PURCHASE_EFFECT,
    SEND_HOUR,
    SHOP_HOUR_WEIGHTS,
    SHOP_HOURS,
    PairState,
    fatigue_decay,
    incremental_margin,
    opt_out_probability,
    redemption_logit,
    sigmoid,
)
from loyaltylens.data.offers import OfferCatalogue
from loyaltylens.data.population import Population, sample_rows
from loyaltylens.data.schema import EVENT_TYPES, OFFER_CHANNELS, TABLE_SCHEMAS, TRUTH_SCHEMAS, labels
from loyaltylens.vocabulary import CHANNELS, PRODUCT_CATEGORIES

if TYPE_CHECKING:
    from loyaltylens.data.config import GeneratorConfig

DAY = 86_400  # seconds; all times inside the simulation are integer seconds since the start date
PREFERRED_CHANNEL_SHARE = 0.8  # share of a customer's purchases on their preferred channel
MOBILE = CHANNELS.index("mobile")
SENT, OPENED, REDEEMED, UNSUBSCRIBED = (EVENT_TYPES.index(e) for e in ("sent", "opened", "redeemed", "unsubscribed"))
UNSUBSCRIBE_DELAY_SECONDS = 2 * 3600  # an opt-out follows the send it answers


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
    pair_truth: pa.Table
    treated: Assignments  # the treated assignments, for the truth summary


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
class Baseline:
    """Offer-independent purchases and their ``[D, C]`` daily aggregates."""

    purchases: Purchases
    counts: np.ndarray  # purchases per day and customer
    spend: np.ndarray  # amount spent per day and customer
    rate: np.ndarray  # expected purchases per day and customer (calendar, engagement, membership)


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
    incremental_margin: np.ndarray  # expected, from the latent state
    redeemed_if_treated: np.ndarray  # potential outcomes, drawn for both arms
    subsidised_if_treated: np.ndarray  # the redemption would discount a purchase made anyway
    extra_spend_if_redeemed: np.ndarray  # the redeemed basket, or only its top-up if subsidised
    opened_if_treated: np.ndarray
    opted_out_if_treated: np.ndarray
    open_second: np.ndarray
    redemption_second: np.ndarray
    redemption_amount: np.ndarray
    spend_if_control: np.ndarray  # baseline purchases in the label window (the same in both arms)
    bought_if_control: np.ndarray

    @classmethod
    def concat(cls, parts: list[Assignments]) -> Assignments:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def subset(self, rows: np.ndarray) -> Assignments:
        return Assignments(*(getattr(self, f.name)[rows] for f in fields(self)))


@dataclass
class CustomerMemory:
    """What earlier campaigns left in each customer: decayed fatigue and whether they opted out."""

    fatigue: np.ndarray
    opted_out: np.ndarray
    day: int = 0  # the day ``fatigue`` refers to

    def advance_to(self, day: int) -> None:
        self.fatigue *= fatigue_decay(day - self.day)
        self.day = day


class CategoryPurchaseIndex:
    """Baseline purchases sorted by (customer, category, time): finds one in a time window by binary search."""

    def __init__(self, purchases: Purchases, n_days: int) -> None:
        self._span = (n_days + 1) * DAY
        keys = self._key(purchases.customer, purchases.category) + purchases.second
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]
        self.claimed = np.zeros(len(keys), dtype=bool)  # already redeemed an offer

    def _key(self, customer: np.ndarray, category: np.ndarray) -> np.ndarray:
        return (customer.astype(np.int64) * len(PRODUCT_CATEGORIES) + category) * self._span

    def first_in_window(
        self, customer: np.ndarray, category: np.ndarray, start_second: int, stop_second: int
    ) -> np.ndarray:
        """Index of each customer's first purchase of ``category`` in ``[start, stop)``; -1 if there is none
        or it already redeemed an offer."""
        base = self._key(customer, category)
        position = np.searchsorted(self._keys, base + start_second)
        clipped = np.minimum(position, max(0, len(self._keys) - 1))
        found = (position < len(self._keys)) & (self._keys[clipped] < base + stop_second)
        index = np.where(found, self._order[clipped] if len(self._keys) else -1, -1)
        unclaimed = index >= 0
        unclaimed[unclaimed] = ~self.claimed[index[unclaimed]]
        return np.where(unclaimed, index, -1)


def engagement_process(n_days: int, n_customers: int, rng: np.random.Generator) -> np.ndarray:
    """``[D, C]`` latent engagement: a weekly AR(1), stationary standard normal, held within each week."""
    n_weeks = -(-n_days // 7)
    weekly = np.empty((n_weeks, n_customers))
    weekly[0] = rng.standard_normal(n_customers)
    innovation = np.sqrt(1.0 - ENGAGEMENT_PERSISTENCE**2)
    for week in range(1, n_weeks):
        weekly[week] = ENGAGEMENT_PERSISTENCE * weekly[week - 1] + innovation * rng.standard_normal(n_customers)
    return np.repeat(weekly, 7, axis=0)[:n_days]


def _draw_baseline(
    pop: Population, day_factor: np.ndarray, engagement: np.ndarray, rng: np.random.Generator
) -> Baseline:
    """Offer-independent purchases of every customer on every day."""
    n_days, n_customers = len(day_factor), len(pop)
    day_index = np.arange(n_days)[:, None]
    alive = (day_index >= np.maximum(pop.signup_day, 0)) & (day_index < pop.churn_day)  # (D, C)
    effect = ENGAGEMENT_PURCHASE_EFFECT
    rate = day_factor[:, None] * pop.activity_rate * np.exp(effect * engagement - effect**2 / 2) * alive
    counts = rng.poisson(rate)  # (D, C)

    cell = np.repeat(np.arange(counts.size), counts.ravel())  # one entry per purchase: day * C + customer
    day, customer = np.divmod(cell, n_customers)
    n = len(cell)
    second = day * DAY + _shop_second(n, rng)
    basket_noise = rng.lognormal(-(BASKET_SIGMA**2) / 2, BASKET_SIGMA, n)
    amount = np.maximum(0.5, np.round(pop.basket_mean[customer] * basket_noise, 2))
    category = sample_rows(np.cumsum(pop.category_affinity, axis=1), customer, rng.random(n))
    channel = sample_rows(np.cumsum(_channel_probabilities(pop), axis=1), customer, rng.random(n))

    spend = np.bincount(cell, weights=amount, minlength=counts.size).reshape(counts.shape)
    return Baseline(
        purchases=Purchases(customer, second, amount, category, channel, np.zeros(n, dtype=np.int64)),
        counts=counts,
        spend=spend,
        rate=rate,
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
    engagement = engagement_process(len(day_factor), len(pop), rng)
    baseline = _draw_baseline(pop, day_factor, engagement, rng)
    index = CategoryPurchaseIndex(baseline.purchases, len(day_factor))
    memory = CustomerMemory(fatigue=np.zeros(len(pop)), opted_out=np.zeros(len(pop), dtype=bool))
    days = campaign_days(config)
    first_pair_campaign = len(days) - config.pair_truth_campaigns
    campaigns, pair_tables = [], []
    for k, day in enumerate(days):
        memory.advance_to(int(day))
        campaign = _Campaign(k, int(day), pop, offers, config, baseline, engagement, memory)
        campaigns.append(campaign.run(index, rng))
        if k >= first_pair_campaign:
            pair_tables.append(campaign.pair_truth())

    assignments = Assignments.concat(campaigns)
    assignment_id = first_assignment_id + np.arange(len(assignments.customer), dtype=np.int64)
    redemptions = _redemption_purchases(pop, offers, assignments)
    timestamps = _Timestamps(start_epoch_second)
    pair_truth = pa.concat_tables(pair_tables) if pair_tables else TRUTH_SCHEMAS["pair_truth"].empty_table()
    return ChunkTables(
        transactions=_transactions_table(pop, baseline.purchases, redemptions, first_txn_id, timestamps),
        campaigns=_campaigns_table(pop, offers, assignments, assignment_id, timestamps),
        offer_events=_offer_events_table(pop, offers, assignments, assignment_id, timestamps),
        assignments_truth=_assignments_truth_table(pop, offers, assignments, assignment_id),
        pair_truth=pair_truth,
        treated=assignments.subset(np.flatnonzero(assignments.treated)),
    )


class _Campaign:
    """One campaign send day: who is eligible, their latent state, and the assignments it draws."""

    def __init__(
        self,
        k: int,
        day: int,
        pop: Population,
        offers: OfferCatalogue,
        config: GeneratorConfig,
        baseline: Baseline,
        engagement: np.ndarray,
        memory: CustomerMemory,
    ) -> None:
        self.k, self.day, self.pop, self.offers, self.config = k, day, pop, offers, config
        self.baseline, self.memory = baseline, memory
        window = config.label_window_days
        self.engagement = engagement[day]
        self.fatigue = memory.fatigue.copy()  # at send time, before this campaign's sends add to it
        self.purchase_rate = baseline.rate[day : day + window].mean(axis=0)  # expected purchases per day
        # Offers active over the whole label window; mobile offers only reach customers with the app.
        active = (offers.start_day <= day) & (offers.end_day >= day + window - 1)
        self.pool_with_app = np.flatnonzero(active)
        self.pool_without_app = np.flatnonzero(active & (offers.channel != OFFER_CHANNELS.index("mobile")))
        self.pool_size = np.where(pop.has_app, len(self.pool_with_app), len(self.pool_without_app))
        self.targeted = np.empty(0, dtype=np.int64)

    def pair_state(self, customer: np.ndarray, offer: np.ndarray) -> PairState:
        """The latent state of the (customer row, offer row) pairs at send time."""
        pop, offers = self.pop, self.offers
        return PairState(
            engagement=self.engagement[customer],
            purchase_rate=self.purchase_rate[customer],
            deal_proneness=pop.deal_proneness[customer],
            price_sensitivity=pop.price_sensitivity[customer],
            category_affinity=pop.category_affinity[customer, offers.category[offer]],
            segment=pop.segment[customer],
            channel_preference=pop.channel_preference[customer],
            basket_mean=pop.basket_mean[customer],
            fatigue=self.fatigue[customer],
            fatigue_sensitivity=pop.fatigue_sensitivity[customer],
            discount_pct=offers.discount_pct[offer],
            offer_channel=offers.channel[offer],
            min_spend=offers.min_spend[offer],
            bonus_points=offers.bonus_points[offer],
        )

    def run(self, index: CategoryPurchaseIndex, rng: np.random.Generator) -> Assignments:
        """Target, assign offers and arms, draw potential outcomes, and record realised effects."""
        pop, offers, config, day = self.pop, self.offers, self.config, self.day
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
            opt_out_draw,
        ) = rng.random((10, n))
        redemption_day = day + np.floor(window * delay_draw**2).astype(np.int64)  # sooner is likelier
        redemption_second_draw = redemption_day * DAY + _shop_second(n, rng)
        redemption_basket = pop.basket_mean * rng.lognormal(-(BASKET_SIGMA**2) / 2, BASKET_SIGMA, n)

        pick = np.floor(offer_draw * self.pool_size).astype(np.int64)
        offer_index = np.where(
            pop.has_app,
            np.append(self.pool_with_app, -1)[np.minimum(pick, len(self.pool_with_app))],
            np.append(self.pool_without_app, -1)[np.minimum(pick, len(self.pool_without_app))],
        )
        eligible = (pop.signup_day < day) & ~self.memory.opted_out & (self.pool_size > 0)
        t = self.targeted = np.flatnonzero(eligible & (target_draw < config.target_share))
        o = offer_index[t]
        treated = arm_draw[t] >= config.holdout_share
        arm_share = np.where(treated, 1.0 - config.holdout_share, config.holdout_share)

        state = self.pair_state(t, o)
        p_redeem = sigmoid(redemption_logit(state))
        redeems = redeem_draw[t] < p_redeem
        opts_out = opt_out_draw[t] < opt_out_probability(state)

        sent_second = day * DAY + SEND_HOUR * 3600
        anyway = index.first_in_window(t, offers.category[o], sent_second, (day + window) * DAY)
        subsidised = redeems & (anyway >= 0)
        purchases = self.baseline.purchases
        anyway_safe = np.maximum(anyway, 0)
        # Read before the treated arm overwrites the discounted purchases' amounts below.
        anyway_amount = purchases.amount[anyway_safe].copy()
        redemption_second = np.where(subsidised, purchases.second[anyway_safe], redemption_second_draw[t])
        redemption_amount = np.round(
            np.where(
                subsidised,
                np.maximum(offers.min_spend[o], anyway_amount),  # topped up if below
                np.maximum(offers.min_spend[o] * (1.0 + 0.25 * amount_draw[t]), redemption_basket[t]),
            ),
            2,
        )
        opens = redeems | (open_draw[t] < pop.open_propensity[t])  # a redemption implies the offer was opened
        open_second = np.where(
            redeems,
            sent_second + np.floor(0.9 * open_share_draw[t] * (redemption_second - sent_second)),
            sent_second + np.minimum(np.floor(-np.log1p(-open_delay_draw[t]) * 0.8 * DAY), window * DAY - 1),
        ).astype(np.int64)

        # Realise the treated arm: a subsidised redemption marks the baseline purchase it discounted.
        claimed = anyway[treated & subsidised]
        index.claimed[claimed] = True
        purchases.offer_id[claimed] = offers.offer_id[o[treated & subsidised]]
        purchases.amount[claimed] = redemption_amount[treated & subsidised]
        self.memory.fatigue[t[treated]] += 1.0
        self.memory.opted_out[t[treated & opts_out]] = True

        label_window = slice(day, day + window)
        spend_if_control = self.baseline.spend[label_window].sum(axis=0)[t]
        return Assignments(
            campaign_id=np.full(len(t), self.k + 1, dtype=np.int32),
            customer=t,
            offer_index=o,
            treated=treated,
            logging_probability=config.target_share / self.pool_size[t] * arm_share,
            sent_second=np.full(len(t), sent_second, dtype=np.int64),
            p_redeem=p_redeem,
            incremental_margin=incremental_margin(state, p_redeem, window),
            redeemed_if_treated=redeems,
            subsidised_if_treated=subsidised,
            extra_spend_if_redeemed=np.where(
                subsidised, redemption_amount - anyway_amount, redemption_amount
            ),
            opened_if_treated=opens,
            opted_out_if_treated=opts_out,
            open_second=open_second,
            redemption_second=redemption_second,
            redemption_amount=redemption_amount,
            spend_if_control=spend_if_control,
            bought_if_control=self.baseline.counts[label_window].sum(axis=0)[t] > 0,
        )

    def pair_truth(self) -> pa.Table:
        """Every targeted customer (both arms) with every offer eligible to them: the truth of each choice."""
        with_app = self.pop.has_app[self.targeted]
        customers, offers = [], []
        for has_app, pool in ((True, self.pool_with_app), (False, self.pool_without_app)):
            rows = self.targeted[with_app == has_app]
            customers.append(np.repeat(rows, len(pool)))
            offers.append(np.tile(pool, len(rows)))
        customer, offer = np.concatenate(customers), np.concatenate(offers)
        state = self.pair_state(customer, offer)
        p_redeem = sigmoid(redemption_logit(state))
        margin = incremental_margin(state, p_redeem, self.config.label_window_days)
        return pa.Table.from_arrays(
            [
                pa.array(np.full(len(customer), self.k + 1, dtype=np.int32)),
                pa.array(self.pop.customer_id[customer]),
                pa.array(self.offers.offer_id[offer]),
                pa.array(p_redeem.astype(np.float32)),
                pa.array(margin.astype(np.float32)),
            ],
            schema=TRUTH_SCHEMAS["pair_truth"],
        )


@dataclass(frozen=True)
class _Timestamps:
    """Converts simulation seconds into Arrow timestamps."""

    start_epoch_second: int

    def __call__(self, second: np.ndarray) -> pa.Array:
        return pa.array((self.start_epoch_second + second) * 1_000_000, pa.int64()).cast(pa.timestamp("us"))


def _redemption_purchases(pop: Population, offers: OfferCatalogue, assignments: Assignments) -> Purchases:
    """Realised unsubsidised redemptions as extra purchases of the offer's category, on its channel (or the
    preferred one); subsidised ones are baseline purchases already marked with the offer."""
    realised = np.flatnonzero(
        assignments.treated & assignments.redeemed_if_treated & ~assignments.subsidised_if_treated
    )
    customer = assignments.customer[realised]
    offer = assignments.offer_index[realised]
    offer_channel = offers.channel[offer]
    return Purchases(
        customer=customer,
        second=assignments.redemption_second[realised],
        amount=assignments.redemption_amount[realised],
        category=offers.category[offer],
        channel=np.where(offer_channel == OFFER_CHANNELS.index("any"), pop.channel_preference[customer], offer_channel),
        offer_id=offers.offer_id[offer],
    )


def _transactions_table(
    pop: Population, baseline: Purchases, redemptions: Purchases, first_txn_id: int, timestamps: _Timestamps
) -> pa.Table:
    purchases = Purchases(
        *(np.concatenate([getattr(baseline, f.name), getattr(redemptions, f.name)]) for f in fields(Purchases))
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
    """Events exist only for treated assignments: sent always; opened, redeemed and unsubscribed when they
    happened."""
    rows_by_kind = [
        np.flatnonzero(a.treated),
        np.flatnonzero(a.treated & a.opened_if_treated),
        np.flatnonzero(a.treated & a.redeemed_if_treated),
        np.flatnonzero(a.treated & a.opted_out_if_treated),
    ]
    seconds_by_kind = [a.sent_second, a.open_second, a.redemption_second, a.sent_second + UNSUBSCRIBE_DELAY_SECONDS]
    rows = np.concatenate(rows_by_kind)
    seconds = np.concatenate([s[r] for s, r in zip(seconds_by_kind, rows_by_kind, strict=True)])
    kinds = np.repeat([SENT, OPENED, REDEEMED, UNSUBSCRIBED], [len(r) for r in rows_by_kind])
    order = np.lexsort((kinds, rows, seconds))  # by time, then assignment, then in EVENT_TYPES order
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
    extra_spend = np.where(a.redeemed_if_treated, a.extra_spend_if_redeemed, 0.0)
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
            pa.array(np.round(a.spend_if_control + extra_spend, 2)),
            pa.array(np.round(a.spend_if_control, 2)),
            pa.array(a.subsidised_if_treated),
            pa.array(a.incremental_margin),
        ],
        schema=TRUTH_SCHEMAS["assignments_truth"],
    )
