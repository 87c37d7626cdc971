"""What each feature means, its kind and its valid range: the single naming of features.

The feature store writes these columns, training reads them, and the model's feature contract is built
from them, so online and offline paths can never disagree on names, order or category codes.
"""

from __future__ import annotations

from loyaltylens.data.schema import OFFER_CHANNELS
from loyaltylens.vocabulary import CATEGORICAL, CHANNELS, NUMERIC, PRODUCT_CATEGORIES, SEGMENTS, FeatureField

# Recency is capped so customers with no purchase yet get a finite, clearly "long ago" value.
RECENCY_CAP_DAYS = 365.0

# Look-back windows of the windowed features (their names carry the same numbers).
SHORT_WINDOW_DAYS = 30
LONG_WINDOW_DAYS = 90
YEAR_WINDOW_DAYS = 365
OFFER_HISTORY_DAYS = 180

# Rates over a handful of offers are noisy, so they are shrunk towards a prior:
# rate = (hits + RATE_PRIOR_STRENGTH * prior) / (offers + RATE_PRIOR_STRENGTH); no offers -> the prior.
RATE_PRIOR_STRENGTH = 2.0
REDEMPTION_RATE_PRIOR = 0.15
OPEN_RATE_PRIOR = 0.35

FEATURES: tuple[FeatureField, ...] = (
    FeatureField(
        "recency_days",
        NUMERIC,
        "Days since the last purchase before as-of (capped).",
        0.0,
        RECENCY_CAP_DAYS,
    ),
    FeatureField("frequency_30d", NUMERIC, "Purchases in the 30 days before as-of.", 0.0),
    FeatureField("frequency_90d", NUMERIC, "Purchases in the 90 days before as-of.", 0.0),
    FeatureField("monetary_90d", NUMERIC, "Spend in the 90 days before as-of.", 0.0),
    FeatureField("avg_basket_90d", NUMERIC, "Mean purchase amount in the 90 days before as-of (0 if none).", 0.0),
    FeatureField("avg_basket_365d", NUMERIC, "Mean purchase amount in the 365 days before as-of (0 if none).", 0.0),
    FeatureField(
        "offer_redemption_rate",
        NUMERIC,
        "Smoothed share of offers redeemed in the 180 days before as-of.",
        0.0,
        1.0,
    ),
    FeatureField("offers_received_180d", NUMERIC, "Offers sent to the customer in the 180 days before as-of.", 0.0),
    # Contact pressure: recent sends tire a customer (fewer redemptions, more opt-outs) in ways a 180-day count blurs.
    FeatureField("offers_received_30d", NUMERIC, "Offers sent to the customer in the 30 days before as-of.", 0.0),
    FeatureField(
        "days_since_last_offer",
        NUMERIC,
        "Days since the last offer sent to the customer (capped).",
        0.0,
        RECENCY_CAP_DAYS,
    ),
    FeatureField("engagement_score", NUMERIC, "Smoothed offer open rate in the 180 days before as-of.", 0.0, 1.0),
    FeatureField(
        "days_since_last_redemption",
        NUMERIC,
        "Days since the last redemption (capped).",
        0.0,
        RECENCY_CAP_DAYS,
    ),
    FeatureField("tenure_days", NUMERIC, "Days since the customer joined the programme.", 0.0),
    FeatureField("channel_preference", CATEGORICAL, "Preferred channel.", categories=CHANNELS),
    FeatureField("segment", CATEGORICAL, "Customer segment.", categories=SEGMENTS),
    FeatureField(
        "favorite_category",
        CATEGORICAL,
        "Most purchased category before as-of ('none' if no purchase).",
        categories=("none", *PRODUCT_CATEGORIES),
    ),
)

# The customer's usual basket wherever an offer is weighed against it (minimum spend vs basket here, the basket at
# stake in the expected margin): a year of purchases, since 90 days hold a handful or none, and a customer who has
# stopped buying still brings a basket when they come back to redeem (docs/DECISION.md).
BASKET_FEATURE = "avg_basket_365d"

# Offer-aware features of a (customer, offer) pair: the offer's own attributes, then the customer's fit with
# it. A pair row is the customer's FEATURES followed by these, so one matrix scores any customer x offer.
MIN_SPEND_RATIO_CAP = 10.0
OFFER_FEATURES: tuple[FeatureField, ...] = (
    FeatureField("discount_pct", NUMERIC, "The offer's discount in percent.", 0.0, 100.0),
    FeatureField("min_spend", NUMERIC, "The offer's minimum spend.", 0.0),
    FeatureField("bonus_points", NUMERIC, "Loyalty points the offer grants on redemption (a cost).", 0.0),
    FeatureField("offer_category", CATEGORICAL, "Category the offer discounts.", categories=PRODUCT_CATEGORIES),
    FeatureField("offer_channel", CATEGORICAL, "Channel the offer is redeemable on.", categories=OFFER_CHANNELS),
)
AFFINITY_FEATURES: tuple[FeatureField, ...] = (
    FeatureField(
        "category_share_365d",
        NUMERIC,
        "Smoothed share of the customer's purchases in the offer's category, 365 days before as-of.",
        0.0,
        1.0,
    ),
    FeatureField(
        "channel_match", NUMERIC, "1 if the offer is on the preferred channel, 0.5 if on any, else 0.", 0.0, 1.0
    ),
    FeatureField(
        "min_spend_ratio",
        NUMERIC,
        "Minimum spend over the 365-day average basket (capped; the cap if no basket).",
        0.0,
        MIN_SPEND_RATIO_CAP,
    ),
    FeatureField(
        "days_since_category_purchase",
        NUMERIC,
        "Days since the last purchase in the offer's category (capped).",
        0.0,
        RECENCY_CAP_DAYS,
    ),
    FeatureField(
        "category_redemption_rate",
        NUMERIC,
        "Smoothed share of offers in the offer's category redeemed, 365 days before as-of.",
        0.0,
        1.0,
    ),
)
PAIR_FEATURES: tuple[FeatureField, ...] = (*FEATURES, *OFFER_FEATURES, *AFFINITY_FEATURES)
# Features the campaign calendar sets for everyone at once: 30 days before an as-of hold two campaigns or three,
# and the last send was yesterday or a week ago, depending only on the as-of's day in the schedule. Their PSI
# between two versions measures the calendar, not the customers, so drift reports it but never retrains on it.
CAMPAIGN_SCHEDULE_FEATURES: tuple[str, ...] = ("offers_received_30d", "days_since_last_offer")
PAIR_FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in PAIR_FEATURES)
OFFER_COLUMN = "offer_id"

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
NUMERIC_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if not f.is_categorical)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.is_categorical)

# Columns of an offline training frame besides the features.
ENTITY_COLUMN = "customer_id"
AS_OF_COLUMN = "as_of"
LABEL_COLUMN = "label"  # redeemed an offer within label_window_days after as_of
TREATED_COLUMN = "treated_in_window"  # an offer was actually sent in that window (label is meaningful)


def definition(name: str) -> FeatureField:
    """The definition of (customer or pair) feature ``name``; ``KeyError`` if there is none."""
    for feature in PAIR_FEATURES:
        if feature.name == name:
            return feature
    raise KeyError(name)
