"""What each feature means, its kind and its valid range: the single naming of features.

The feature store writes these columns, training reads them, and the model's feature contract is built
from them, so online and offline paths can never disagree on names, order or category codes.
"""

from __future__ import annotations

from loyaltylens.vocabulary import CATEGORICAL, CHANNELS, NUMERIC, PRODUCT_CATEGORIES, SEGMENTS, FeatureField

# Recency is capped so customers with no purchase yet get a finite, clearly "long ago" value.
RECENCY_CAP_DAYS = 365.0

# Look-back windows of the windowed features (their names carry the same numbers).
SHORT_WINDOW_DAYS = 30
LONG_WINDOW_DAYS = 90
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
    FeatureField(
        "avg_basket_90d", NUMERIC, "Mean purchase amount in the 90 days before as-of (0 if none).", 0.0
    ),
    FeatureField(
        "offer_redemption_rate",
        NUMERIC,
        "Smoothed share of offers redeemed in the 180 days before as-of.",
        0.0,
        1.0,
    ),
    FeatureField(
        "offers_received_180d", NUMERIC, "Offers sent to the customer in the 180 days before as-of.", 0.0
    ),
    FeatureField(
        "engagement_score", NUMERIC, "Smoothed offer open rate in the 180 days before as-of.", 0.0, 1.0
    ),
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

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
NUMERIC_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if not f.is_categorical)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.is_categorical)

# Columns of an offline training frame besides the features.
ENTITY_COLUMN = "customer_id"
AS_OF_COLUMN = "as_of"
LABEL_COLUMN = "label"  # redeemed an offer within label_window_days after as_of
TREATED_COLUMN = "treated_in_window"  # an offer was actually sent in that window (label is meaningful)


def definition(name: str) -> FeatureField:
    """The definition of feature ``name``; ``KeyError`` if there is none."""
    for feature in FEATURES:
        if feature.name == name:
            return feature
    raise KeyError(name)
