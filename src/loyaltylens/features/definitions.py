"""What each feature means, its kind and its valid range: the single naming of features.

The feature store writes these columns, training reads them, and the model's feature contract is built
from them, so online and offline paths can never disagree on names, order or category codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from loyaltylens.data.vocab import CHANNELS, PRODUCT_CATEGORIES, SEGMENTS


@dataclass(frozen=True)
class FeatureDefinition:
    """One model input. Categorical features are stored as integer codes into ``categories``."""

    name: str
    kind: str  # "numeric" | "categorical"
    description: str
    min_value: float | None = None
    max_value: float | None = None
    categories: tuple[str, ...] | None = None

    @property
    def is_categorical(self) -> bool:
        return self.kind == "categorical"


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

FEATURES: tuple[FeatureDefinition, ...] = (
    FeatureDefinition(
        "recency_days",
        "numeric",
        "Days since the last purchase before as-of (capped).",
        0.0,
        RECENCY_CAP_DAYS,
    ),
    FeatureDefinition("frequency_30d", "numeric", "Purchases in the 30 days before as-of.", 0.0),
    FeatureDefinition("frequency_90d", "numeric", "Purchases in the 90 days before as-of.", 0.0),
    FeatureDefinition("monetary_90d", "numeric", "Spend in the 90 days before as-of.", 0.0),
    FeatureDefinition(
        "avg_basket_90d", "numeric", "Mean purchase amount in the 90 days before as-of (0 if none).", 0.0
    ),
    FeatureDefinition(
        "offer_redemption_rate",
        "numeric",
        "Smoothed share of offers redeemed in the 180 days before as-of.",
        0.0,
        1.0,
    ),
    FeatureDefinition(
        "offers_received_180d", "numeric", "Offers sent to the customer in the 180 days before as-of.", 0.0
    ),
    FeatureDefinition(
        "engagement_score", "numeric", "Smoothed offer open rate in the 180 days before as-of.", 0.0, 1.0
    ),
    FeatureDefinition(
        "days_since_last_redemption",
        "numeric",
        "Days since the last redemption (capped).",
        0.0,
        RECENCY_CAP_DAYS,
    ),
    FeatureDefinition("tenure_days", "numeric", "Days since the customer joined the programme.", 0.0),
    FeatureDefinition("channel_preference", "categorical", "Preferred channel.", categories=CHANNELS),
    FeatureDefinition("segment", "categorical", "Customer segment.", categories=SEGMENTS),
    FeatureDefinition(
        "favorite_category",
        "categorical",
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
TRUE_PROPENSITY_COLUMN = "true_propensity"  # hidden truth, only for evaluation; never a model input


def definition(name: str) -> FeatureDefinition:
    """The definition of feature ``name``; ``KeyError`` if there is none."""
    for feature in FEATURES:
        if feature.name == name:
            return feature
    raise KeyError(name)
