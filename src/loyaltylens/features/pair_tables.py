"""A ``PairFeatureIndex`` as the feature store keeps it: two small tables beside the online table.

``customer_category`` holds, per customer, the three per-category arrays the affinities read (share of
purchases, days since the last purchase, offer redemption rate), one column per (array, category);
``offers`` holds each offer's attributes and dates. With the online table's customer features they rebuild
the index exactly, so a server answers (customer, offer) lookups from a published version alone, without the
dataset or the event history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from loyaltylens.errors import DataValidationError
from loyaltylens.features.definitions import ENTITY_COLUMN, OFFER_COLUMN
from loyaltylens.features.pairs import PairFeatureIndex
from loyaltylens.vocabulary import PRODUCT_CATEGORIES

CATEGORY_ARRAYS: tuple[str, ...] = ("category_share", "days_since_purchase", "category_redemption_rate")
CUSTOMER_CATEGORY_COLUMNS: tuple[str, ...] = tuple(
    f"{array}__{category}" for array in CATEGORY_ARRAYS for category in PRODUCT_CATEGORIES
)
OFFER_TABLE_DTYPES: dict[str, str] = {
    OFFER_COLUMN: "int64",
    "discount_pct": "float32",
    "min_spend": "float32",
    "bonus_points": "float32",
    "offer_category": "int16",
    "offer_channel": "int16",
    # The offer runs from start_date through end_date (inclusive): what candidates without retrieval filter on.
    "start_date": "datetime64[us]",
    "end_date": "datetime64[us]",
}


@dataclass(frozen=True)
class PairTables:
    """What a feature version adds for offer-aware models: the index tables and the pair training frame."""

    customer_category: pd.DataFrame
    offers: pd.DataFrame
    training: pd.DataFrame | None  # PAIR_TRAINING_COLUMNS; None when no campaign has a complete label window

    @classmethod
    def from_index(cls, index: PairFeatureIndex, training: pd.DataFrame | None) -> PairTables:
        return cls(customer_category_frame(index), offers_frame(index), training)


def customer_category_frame(index: PairFeatureIndex) -> pd.DataFrame:
    """``customer_id`` and the index's per-category arrays, one float32 column per (array, category)."""
    arrays = np.hstack([getattr(index, array) for array in CATEGORY_ARRAYS]).astype(np.float32)
    frame = pd.DataFrame(arrays, columns=list(CUSTOMER_CATEGORY_COLUMNS))
    frame.insert(0, ENTITY_COLUMN, index.customer_ids.astype(np.int64))
    return frame


def offers_frame(index: PairFeatureIndex) -> pd.DataFrame:
    """``offer_id`` and each offer's attributes (``OFFER_TABLE_DTYPES``)."""
    frame = index.offers.copy()
    frame.insert(0, OFFER_COLUMN, index.offer_ids)
    return frame[list(OFFER_TABLE_DTYPES)].astype(OFFER_TABLE_DTYPES)


def pair_index_from_tables(
    as_of: datetime,
    customer_ids: np.ndarray,
    customer_features: np.ndarray,
    customer_category: pd.DataFrame,
    offers: pd.DataFrame,
) -> PairFeatureIndex:
    """The index the two tables were written from; ``customer_ids`` (sorted) and ``customer_features`` are
    the version's online table, whose rows ``customer_category`` must match.

    Raises:
        DataValidationError: the tables do not describe the same customers, or columns are missing.
    """
    missing = [c for c in (ENTITY_COLUMN, *CUSTOMER_CATEGORY_COLUMNS) if c not in customer_category.columns]
    if missing:
        raise DataValidationError(f"customer_category: missing column(s) {missing}")
    customer_category = customer_category.sort_values(ENTITY_COLUMN, ignore_index=True)
    if not np.array_equal(customer_category[ENTITY_COLUMN].to_numpy(np.int64), customer_ids):
        raise DataValidationError("customer_category and online tables hold different customers")
    k = len(PRODUCT_CATEGORIES)
    arrays = customer_category[list(CUSTOMER_CATEGORY_COLUMNS)].to_numpy(np.float64)
    offers = validate_offers(offers)
    return PairFeatureIndex(
        as_of=as_of,
        customer_ids=customer_ids,
        customer_features=customer_features,
        **{array: arrays[:, i * k : (i + 1) * k] for i, array in enumerate(CATEGORY_ARRAYS)},
        offer_ids=offers[OFFER_COLUMN].to_numpy(np.int64),
        offers=offers.drop(columns=[OFFER_COLUMN]).reset_index(drop=True),
    )


def validate_offers(offers: pd.DataFrame) -> pd.DataFrame:
    """``offers`` with the table's columns and dtypes, unique ids; raises ``DataValidationError`` otherwise."""
    missing = [c for c in OFFER_TABLE_DTYPES if c not in offers.columns]
    if missing:
        raise DataValidationError(f"offers: missing column(s) {missing}")
    if offers[OFFER_COLUMN].duplicated().any():
        raise DataValidationError(f"offers.{OFFER_COLUMN}: must be unique")
    return offers[list(OFFER_TABLE_DTYPES)].astype(OFFER_TABLE_DTYPES).sort_values(OFFER_COLUMN, ignore_index=True)
