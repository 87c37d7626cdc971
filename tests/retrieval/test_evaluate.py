"""Evaluation: held-out split, truth relevance from the simulator's model, metrics."""

import numpy as np
import pandas as pd
import pytest

from loyaltylens.retrieval.evaluate import is_held_out, ndcg_at, true_redemption_probability
from loyaltylens.retrieval.query import build_customer_query, customer_histories
from loyaltylens.vocabulary import PRODUCT_CATEGORIES


def test_held_out_split_is_stable_and_about_a_fifth():
    ids = np.arange(1, 10_001)
    held = is_held_out(ids)
    assert 0.18 < held.mean() < 0.22
    assert (is_held_out(ids[::-1])[::-1] == held).all()


def test_ndcg():
    assert ndcg_at(np.array([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0]), 10) == pytest.approx(1.0)
    assert ndcg_at(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]), 10) < 1.0


def test_truth_prefers_the_customers_category_and_channel(offers):
    record = {
        "customer_id": 1,
        "recency_days": 3.0,
        "frequency_30d": 5.0,
        "monetary_90d": 300.0,
        "avg_basket_90d": 30.0,
        "offer_redemption_rate": 0.2,
        "engagement_score": 0.4,
        "segment": "family",
        "channel_preference": "mobile",
    }
    affinity = {f"affinity_{c}": 0.01 for c in PRODUCT_CATEGORIES} | {"affinity_baby": 0.91}
    truth = pd.DataFrame([{"customer_id": 1, "deal_proneness": 0.0, "price_sensitivity": 1.0, **affinity}])
    p = true_redemption_probability([record], truth, offers)[0]
    assert p.shape == (len(offers),) and ((0 < p) & (p < 1)).all()
    assert p.argmax() == 1  # the baby offer, on every channel


def test_query_from_features_and_history(offers):
    transactions = pd.DataFrame(
        {
            "customer_id": [7, 7, 7, 7],
            "category": ["dairy", "snacks", "snacks", "baby"],
            "ts": pd.to_datetime(["2026-01-02"] * 4),
            "offer_id": [2, 2, None, None],
        }
    )
    history = customer_histories(transactions, offers, [7])[7]
    assert history.preferred_categories == ("snacks", "baby") and history.price_sensitive  # redeemed 30 % twice
    record = {"favorite_category": "dairy", "segment": "budget", "channel_preference": "web"}
    query = build_customer_query(record, history)
    assert query.categories == ("dairy", "snacks") and query.filters.channels == ["web", "any"]
    assert query.text.startswith("dairy and snacks offer for a budget shopper who buys web") and "40%" in query.text
