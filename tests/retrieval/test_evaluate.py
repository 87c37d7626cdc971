"""Evaluation: held-out split, truth relevance from the simulator's model, metrics."""

import numpy as np
import pandas as pd
import pytest

from loyaltylens.retrieval.evaluate import is_held_out, ndcg_at, true_redemption_probability
from loyaltylens.retrieval.query import build_customer_query, customer_histories


def test_held_out_split_is_stable_and_about_a_fifth():
    ids = np.arange(1, 10_001)
    held = is_held_out(ids)
    assert 0.18 < held.mean() < 0.22
    assert (is_held_out(ids[::-1])[::-1] == held).all()


def test_ndcg():
    assert ndcg_at(np.array([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0]), 10) == pytest.approx(1.0)
    assert ndcg_at(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]), 10) < 1.0


def test_truth_is_each_customers_latest_pair_truth(offers):
    pair_truth = pd.DataFrame(
        {
            "campaign_id": [1, 2, 2, 1],
            "customer_id": [1, 1, 1, 2],
            "offer_id": [2, 2, 5, 1],
            "p_redeem": [0.9, 0.3, 0.1, 0.2],
            "incremental_margin": [0.0, 0.0, 0.0, 0.0],
        }
    )
    p = true_redemption_probability([1, 2, 3], pair_truth, offers)
    assert p.shape == (3, len(offers))
    assert p[0, 1] == pytest.approx(0.3) and p[0, 4] == pytest.approx(0.1)  # the customer's latest campaign wins
    assert p[1, 0] == pytest.approx(0.2)  # customer 2's latest campaign is an earlier one
    assert p[2].sum() == 0.0  # a customer the truth does not cover gains nothing
    assert (p[0, [0, 2, 3, 5]] == 0).all()


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
