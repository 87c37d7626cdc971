"""Retrieval fixtures: the offers and the embedder (the Postgres fixtures are in tests/conftest.py)."""

import pandas as pd
import pytest

from loyaltylens.retrieval.embeddings import TextEmbedder

OFFERS = pd.DataFrame(
    {
        "offer_id": [1, 2, 3, 4, 5, 6],
        "category": ["dairy", "baby", "beverages", "dairy", "snacks", "household"],
        "discount_pct": [20, 30, 10, 15, 25, 10],
        "channel": ["mobile", "any", "web", "in_store", "any", "in_store"],
        "min_spend": [10.0, 20.0, 0.0, 5.0, 0.0, 15.0],
        "bonus_points": [0, 50, 0, 0, 100, 0],
        "start_date": pd.to_datetime(["2026-01-01"] * 3 + ["2026-06-01"] + ["2026-01-01"] * 2),
        "end_date": pd.to_datetime(["2026-12-31"] * 3 + ["2026-06-30"] + ["2026-12-31"] * 2),
        "title": ["Dairy deal", "Nappies deal", "Drinks deal", "Cheese week", "Crisps deal", "Cleaning deal"],
        "text": [
            "20% off milk, yoghurt and cheese in the app",
            "30% off nappies and baby wipes",
            "10% off soft drinks and juice online",
            "15% off cheese and butter in store",
            "25% off sea-salt crisps and dark chocolate",
            # A long text about something else that ends in an exact term (a voucher code).
            "Spring clean for less: 10% off kitchen rolls, bin bags, dishwasher tablets, laundry detergent and "
            "every other household essential at the till in any of our stores; voucher ZQX7K",
        ],
    }
)


@pytest.fixture(scope="session")
def embedder() -> TextEmbedder:
    return TextEmbedder()


@pytest.fixture
def offers() -> pd.DataFrame:
    return OFFERS.copy()
