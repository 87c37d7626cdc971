"""The offer catalogue: discounts on a category, on a channel, with a minimum spend and an active window.

Offer texts are embedded for retrieval later, so they are written as varied, readable sentences
that name the category, concrete products, the discount, the channel and the conditions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from loyaltylens.data.schema import OFFER_CHANNELS, TABLE_SCHEMAS, labels
from loyaltylens.vocabulary import PRODUCT_CATEGORIES

if TYPE_CHECKING:
    from loyaltylens.data.config import GeneratorConfig

DISCOUNTS = np.array([5, 10, 15, 20, 25, 30, 40])
MIN_SPENDS = np.array([0, 0, 10, 15, 20, 25, 30, 50, 75], dtype=float)
BONUS_POINTS = np.array([0, 0, 0, 50, 100, 250])
OFFER_CHANNEL_SHARES = (0.35, 0.25, 0.15, 0.25)  # in_store, mobile, web, any
DURATION_DAYS = (28, 92)  # active window length range [low, high)

# Per category: how copy names it, and products to feature.
CATEGORY_COPY: dict[str, tuple[str, tuple[str, ...]]] = {
    "produce": (
        "fresh fruit and vegetables",
        ("crisp apples", "seasonal berries", "salad greens", "ripe avocados"),
    ),
    "dairy": ("dairy", ("Greek yoghurt", "aged cheddar", "organic milk", "salted butter")),
    "bakery": ("bakery", ("sourdough loaves", "butter croissants", "seeded rye bread", "blueberry muffins")),
    "meat_fish": ("meat and fish", ("salmon fillets", "free-range chicken", "minced beef", "king prawns")),
    "beverages": ("drinks", ("coffee beans", "sparkling water", "fresh orange juice", "craft beer")),
    "snacks": ("snacks", ("sea-salt crisps", "dark chocolate", "mixed nuts", "oat biscuits")),
    "household": (
        "household essentials",
        ("laundry detergent", "kitchen rolls", "dishwasher tablets", "bin bags"),
    ),
    "personal_care": ("personal care", ("shampoo", "electric toothbrush heads", "shower gel", "sunscreen")),
    "baby": ("baby products", ("nappies", "organic baby food", "baby wipes", "formula milk")),
    "frozen": ("frozen food", ("stone-baked pizzas", "ice cream", "frozen peas", "fish fingers")),
}
CHANNEL_COPY: dict[str, tuple[str, ...]] = {
    "in_store": ("in store", "at your local store", "at the till in any of our stores"),
    "mobile": ("in the app", "when you pay with the mobile app", "with your app coupon"),
    "web": ("online", "on our website", "when you order for home delivery"),
    "any": ("in store or online", "wherever you shop with us", "in store, online or in the app"),
}
TEMPLATES = (
    "{pct}% off all {label} {where}{spend}.",
    "Save {pct}% on {product} and other {label} {where}{spend}.",
    "Stock up on {product}: {pct}% off {label} {where}{spend}, until {end}.",
    "Members' deal: take {pct}% off {product} {where}{spend}.",
    "Treat yourself to {product} with {pct}% off {where}{spend} - valid until {end}.",
    "This fortnight only, all {label} is {pct}% cheaper {where}{spend}; try our {product}.",
)
TITLES = ("{pct}% off {label}", "{Product} deal", "Save on {label}", "{pct}% off {product}")


@dataclass(frozen=True)
class OfferCatalogue:
    """All offers as parallel arrays; categoricals are codes (category into PRODUCT_CATEGORIES,
    channel into schema.OFFER_CHANNELS); days are indices relative to the start, end inclusive."""

    offer_id: np.ndarray
    category: np.ndarray
    discount_pct: np.ndarray
    channel: np.ndarray
    min_spend: np.ndarray
    bonus_points: np.ndarray
    start_day: np.ndarray
    end_day: np.ndarray
    title: list[str]
    text: list[str]

    def __len__(self) -> int:
        return len(self.offer_id)

    def table(self, start_date: date) -> pa.Table:
        """The public ``offers`` table."""
        epoch_day = np.datetime64(start_date, "D").astype(np.int64)
        return pa.Table.from_arrays(
            [
                pa.array(self.offer_id),
                labels(self.category, PRODUCT_CATEGORIES),
                pa.array(self.discount_pct.astype(np.int32)),
                labels(self.channel, OFFER_CHANNELS),
                pa.array(self.min_spend),
                pa.array(self.bonus_points.astype(np.int32)),
                pa.array((epoch_day + self.start_day).astype(np.int32)).cast(pa.date32()),
                pa.array((epoch_day + self.end_day).astype(np.int32)).cast(pa.date32()),
                pa.array(self.title),
                pa.array(self.text),
            ],
            schema=TABLE_SCHEMAS["offers"],
        )


def generate_offers(config: GeneratorConfig, rng: np.random.Generator) -> OfferCatalogue:
    """Draw ``config.n_offers`` offers whose windows are spread over (and slightly before) the period."""
    n = config.n_offers
    category = rng.integers(0, len(PRODUCT_CATEGORIES), n)
    discount = rng.choice(DISCOUNTS, n)
    channel = rng.choice(len(OFFER_CHANNELS), n, p=OFFER_CHANNEL_SHARES)
    min_spend = rng.choice(MIN_SPENDS, n)
    start_day = rng.integers(-30, max(1, config.n_days - config.label_window_days), n)
    end_day = start_day + rng.integers(*DURATION_DAYS, n) - 1
    copy_choices = rng.integers(0, 1 << 30, (n, 4))  # template, product, channel phrase, title
    bonus_points = rng.choice(BONUS_POINTS, n)

    start = date.fromisoformat(config.start_date)
    titles, texts = [], []
    for i in range(n):  # a few hundred offers: string formatting per offer is fine
        label, products = CATEGORY_COPY[PRODUCT_CATEGORIES[category[i]]]
        template, product, where, title = copy_choices[i]
        words = {
            "pct": int(discount[i]),
            "label": label,
            "product": products[product % len(products)],
            "where": CHANNEL_COPY[OFFER_CHANNELS[channel[i]]][where % 3],
            "spend": (f" when you spend €{min_spend[i]:.0f} or more" if min_spend[i] > 0 else "")
            + (f", plus {bonus_points[i]} bonus points" if bonus_points[i] > 0 else ""),
            "end": (start + timedelta(days=int(end_day[i]))).strftime("%d %B"),
        }
        words["Product"] = words["product"][0].upper() + words["product"][1:]
        texts.append(TEMPLATES[template % len(TEMPLATES)].format(**words))
        titles.append(TITLES[title % len(TITLES)].format(**words))

    return OfferCatalogue(
        offer_id=np.arange(1, n + 1, dtype=np.int64),
        category=category.astype(np.int8),
        discount_pct=discount.astype(np.int64),
        channel=channel.astype(np.int8),
        min_spend=min_spend,
        bonus_points=bonus_points.astype(np.int64),
        start_day=start_day.astype(np.int32),
        end_day=end_day.astype(np.int32),
        title=titles,
        text=texts,
    )
