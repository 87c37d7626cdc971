"""Column names and Arrow types of each table: the writer builds tables from them, the validator checks them.

Public tables live at ``<dataset>/<name>.parquet``; the hidden truth at ``<dataset>/truth/<name>.parquet``
(feature code never reads it).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from loyaltylens.vocabulary import CHANNELS, PRODUCT_CATEGORIES

# Offers may target one channel or all of them; purchases and preferences always name one channel.
OFFER_CHANNEL_ANY = "any"
OFFER_CHANNELS: tuple[str, ...] = (*CHANNELS, OFFER_CHANNEL_ANY)
# "unsubscribed": the customer opted out of offers after this send and gets none afterwards.
EVENT_TYPES: tuple[str, ...] = ("sent", "opened", "redeemed", "unsubscribed")

MANIFEST_FILENAME = "manifest.json"
TRUTH_DIRNAME = "truth"

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema(
        [
            ("customer_id", pa.int64()),
            ("segment", pa.string()),
            ("channel_preference", pa.string()),
            ("has_app", pa.bool_()),  # mobile offers only reach customers with the app
            ("signup_date", pa.date32()),
        ]
    ),
    "offers": pa.schema(
        [
            ("offer_id", pa.int64()),
            ("category", pa.string()),
            ("discount_pct", pa.int32()),
            ("channel", pa.string()),
            ("min_spend", pa.float64()),
            ("bonus_points", pa.int32()),  # loyalty points granted on redemption (a cost to the retailer)
            ("start_date", pa.date32()),
            ("end_date", pa.date32()),  # inclusive
            ("title", pa.string()),
            ("text", pa.string()),
        ]
    ),
    "transactions": pa.schema(
        [
            ("txn_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("ts", pa.timestamp("us")),
            ("amount", pa.float64()),
            ("category", pa.string()),
            ("channel", pa.string()),
            ("offer_id", pa.int64()),  # null unless the purchase redeemed an offer
        ]
    ),
    "campaigns": pa.schema(
        [
            ("assignment_id", pa.int64()),
            ("campaign_id", pa.int32()),
            ("customer_id", pa.int64()),
            ("offer_id", pa.int64()),
            ("sent_ts", pa.timestamp("us")),  # planned send time, also for the hold-out arm
            ("treated", pa.bool_()),  # False = random hold-out, nothing was sent
            (
                "logging_probability",
                pa.float64(),
            ),  # P(this customer, this offer, this arm) under the random policy
        ]
    ),
    "offer_events": pa.schema(
        [
            ("customer_id", pa.int64()),
            ("offer_id", pa.int64()),
            ("assignment_id", pa.int64()),
            ("ts", pa.timestamp("us")),
            ("event_type", pa.string()),
        ]
    ),
}

TRUTH_SCHEMAS: dict[str, pa.Schema] = {
    "customers_truth": pa.schema(
        [
            ("customer_id", pa.int64()),
            ("activity_rate", pa.float64()),  # expected purchases per day before calendar effects
            ("basket_mean", pa.float64()),  # expected basket amount
            ("deal_proneness", pa.float64()),  # latent z-score, raises open and redemption odds
            ("open_propensity", pa.float64()),  # P(open) of a sent offer, before redemption forces an open
            ("price_sensitivity", pa.float64()),  # multiplies the effect of the discount
            ("fatigue_sensitivity", pa.float64()),  # multiplies the effect of earlier sends
            ("churn_day", pa.int32()),  # day index from which the customer stops buying; null = never
            *[(f"affinity_{category}", pa.float64()) for category in PRODUCT_CATEGORIES],
        ]
    ),
    "assignments_truth": pa.schema(
        [
            ("assignment_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("campaign_id", pa.int32()),
            ("offer_id", pa.int64()),
            ("treated", pa.bool_()),
            ("p_redeem", pa.float64()),  # true probability to redeem if sent
            ("redeemed_if_treated", pa.bool_()),  # potential outcome, drawn for both arms
            ("bought_if_treated", pa.bool_()),  # any purchase in the label window if sent
            ("bought_if_control", pa.bool_()),  # any purchase in the label window if not sent
            ("spend_if_treated", pa.float64()),
            ("spend_if_control", pa.float64()),
            ("subsidised", pa.bool_()),  # the redemption discounted a purchase that happened anyway
            ("incremental_margin", pa.float64()),  # expected margin (EUR) if sent minus if not sent
        ]
    ),
    # Every (targeted customer, eligible offer) pair of the last campaigns: what each offer would have done.
    "pair_truth": pa.schema(
        [
            ("campaign_id", pa.int32()),
            ("customer_id", pa.int64()),
            ("offer_id", pa.int64()),
            ("p_redeem", pa.float32()),  # true probability to redeem if this offer were sent
            ("incremental_margin", pa.float32()),  # expected margin (EUR) if sent minus if not sent
        ]
    ),
}

TABLES: tuple[str, ...] = tuple(TABLE_SCHEMAS)
TRUTH_TABLES: tuple[str, ...] = tuple(TRUTH_SCHEMAS)


def table_relpath(name: str) -> str:
    """Path of table ``name`` relative to the dataset directory (truth tables live under ``truth/``)."""
    if name in TRUTH_SCHEMAS:
        return f"{TRUTH_DIRNAME}/{name}.parquet"
    return f"{name}.parquet"


def schema_of(name: str) -> pa.Schema:
    """The Arrow schema of a public or truth table; ``KeyError`` for unknown names."""
    return TABLE_SCHEMAS[name] if name in TABLE_SCHEMAS else TRUTH_SCHEMAS[name]


def schema_to_dict(schema: pa.Schema) -> dict[str, str]:
    """``{column: arrow type}`` as strings, the form stored in manifests and metadata."""
    return {field.name: str(field.type) for field in schema}


def labels(codes: np.ndarray, vocabulary: tuple[str, ...]) -> pa.Array:
    """Vocabulary codes as an Arrow string array (built in C++, no Python strings per row)."""
    dictionary = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(vocabulary))
    return dictionary.cast(pa.string())
