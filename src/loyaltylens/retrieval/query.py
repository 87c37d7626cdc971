"""Retrieval queries built from what is known about a customer: online features and public purchase history.

The features give the favourite category, channel and segment; the history (the public ``transactions``
and ``offers`` tables, never the hidden truth) adds the next preferred categories and price sensitivity,
read from the discounts of the offers the customer redeemed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from loyaltylens.retrieval.base import OfferFilters
from loyaltylens.vocabulary import CHANNELS, PRODUCT_CATEGORIES, SEGMENTS

PREFERRED_CATEGORIES = 2  # the favourite and the runner-up: most customers spread over a few categories
# Mean redeemed discount at or above which a customer is treated as price sensitive (the catalogue's
# discounts run 5-40 %, median 20 %).
PRICE_SENSITIVE_DISCOUNT = 25.0


@dataclass(frozen=True)
class CustomerHistory:
    """What a customer's purchases say beyond the online features."""

    preferred_categories: tuple[str, ...]  # by number of purchases, most first
    mean_redeemed_discount: float | None  # None if the customer never redeemed an offer

    @property
    def price_sensitive(self) -> bool:
        return self.mean_redeemed_discount is not None and self.mean_redeemed_discount >= PRICE_SENSITIVE_DISCOUNT


@dataclass(frozen=True)
class CustomerQuery:
    """A search text and the eligibility filters of one customer."""

    text: str
    filters: OfferFilters
    categories: tuple[str, ...]  # the preferred categories the text names (category-relevance labels)


def customer_query(record: Mapping) -> str:
    """The retrieval query for a customer from their online features alone (labels, not codes)."""
    return build_customer_query(record).text


def build_customer_query(
    record: Mapping, history: CustomerHistory | None = None, active_at: date | None = None
) -> CustomerQuery:
    """Query text and filters for a customer's feature record (``FeatureBatch.to_records()`` form), enriched
    with ``history`` when given; ``active_at`` restricts to offers running that day."""
    favourite = record["favorite_category"]
    categories = tuple(c for c in ([favourite] if favourite != "none" else []))
    if history is not None:
        categories = tuple(dict.fromkeys([*categories, *history.preferred_categories]))[:PREFERRED_CATEGORIES]
    interest = " and ".join(c.replace("_", " ") for c in categories) or "everyday groceries"
    channel = record["channel_preference"]
    text = f"{interest} offer for a {record['segment']} shopper who buys {channel.replace('_', ' ')}"
    if history is not None and history.price_sensitive:
        text += ", big discount 30% or 40% off"
    filters = OfferFilters(channel=channel, active_from=active_at, active_to=active_at)
    return CustomerQuery(text=text, filters=filters, categories=categories)


def customer_query_texts() -> list[str]:
    """Every query text :func:`build_customer_query` writes for a record without history: the online chain's
    whole query vocabulary (favourite category or none, segment, channel), so its embeddings can be cached
    before the first request instead of costing a MiniLM pass on the first customer of each kind."""
    return [
        build_customer_query({"favorite_category": favourite, "segment": segment, "channel_preference": channel}).text
        for favourite in ("none", *PRODUCT_CATEGORIES)
        for segment in SEGMENTS
        for channel in CHANNELS
    ]


def customer_histories(
    transactions: pd.DataFrame, offers: pd.DataFrame, customer_ids: Sequence[int], before: date | None = None
) -> dict[int, CustomerHistory]:
    """Histories of ``customer_ids`` from purchases strictly before ``before`` (all when None)."""
    purchases = transactions[transactions["customer_id"].isin(list(customer_ids))]
    if before is not None:
        purchases = purchases[purchases["ts"] < pd.Timestamp(before)]
    counts = purchases.groupby(["customer_id", "category"]).size().rename("n").reset_index()
    counts = counts.sort_values(["customer_id", "n", "category"], ascending=[True, False, True])
    top = counts.groupby("customer_id")["category"].apply(lambda c: tuple(c.head(PREFERRED_CATEGORIES)))
    redeemed = purchases.dropna(subset=["offer_id"]).merge(
        offers[["offer_id", "discount_pct"]], on="offer_id", how="left"
    )
    discount = redeemed.groupby("customer_id")["discount_pct"].mean()
    histories = {}
    for customer_id in customer_ids:
        mean = discount.get(customer_id)
        histories[int(customer_id)] = CustomerHistory(
            preferred_categories=top.get(customer_id, ()),
            mean_redeemed_discount=None if mean is None or np.isnan(mean) else float(mean),
        )
    return histories
