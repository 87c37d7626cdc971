"""Exact offer search over real MiniLM embeddings: relevance, filters, the embedding cache, bad queries."""

import numpy as np
import pandas as pd
import pytest

from loyaltylens.errors import InvalidInputError
from loyaltylens.retrieval.embeddings import EMBEDDING_DIM, TextEmbedder
from loyaltylens.retrieval.exact import ExactOfferIndex, catalog_hash, customer_query

OFFERS = pd.DataFrame(
    {
        "offer_id": [1, 2, 3, 4],
        "category": ["dairy", "baby", "beverages", "dairy"],
        "discount_pct": [20.0, 30.0, 10.0, 15.0],
        "channel": ["mobile", "any", "web", "in_store"],
        "min_spend": [10.0, 20.0, 0.0, 5.0],
        "start_date": pd.to_datetime(["2026-01-01"] * 3 + ["2026-06-01"]),
        "end_date": pd.to_datetime(["2026-12-31"] * 3 + ["2026-06-30"]),
        "title": ["Dairy deal", "Nappies deal", "Drinks deal", "Cheese week"],
        "text": [
            "20% off milk, yoghurt and cheese in the app",
            "30% off nappies and baby wipes",
            "10% off soft drinks and juice online",
            "15% off cheese and butter in store",
        ],
    }
)


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    return TextEmbedder()


def test_embeddings_are_unit_length_and_meaningful(embedder):
    vectors = embedder.embed(["fresh milk and yoghurt", "dairy products", "car tyres"])
    assert vectors.shape == (3, EMBEDDING_DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_search_ranks_by_meaning_and_applies_filters(embedder, tmp_path):
    index = ExactOfferIndex.build(OFFERS, embedder, tmp_path)
    assert index.search("baby nappies", k=1)[0].offer_id == 2
    mobile = index.search("cheese", k=4, channel="mobile")
    assert {hit.offer_id for hit in mobile} == {1, 2}  # mobile-only and "any" offers
    in_march = index.search("cheese", k=4, active_at=pd.Timestamp("2026-03-01"))
    assert 4 not in {hit.offer_id for hit in in_march}  # Cheese week runs in June only


def test_unchanged_catalog_is_not_embedded_again(embedder, tmp_path, monkeypatch):
    ExactOfferIndex.build(OFFERS, embedder, tmp_path)
    assert (tmp_path / f"offers-{catalog_hash(OFFERS)}.npy").is_file()
    monkeypatch.setattr(embedder, "embed", lambda texts: pytest.fail("re-embedded an unchanged catalog"))
    ExactOfferIndex.build(OFFERS, embedder, tmp_path)


@pytest.mark.parametrize(("query", "k", "message"), [("  ", 3, "query must not be empty"), ("milk", 0, "k must be")])
def test_bad_queries_are_rejected(embedder, tmp_path, query, k, message):
    index = ExactOfferIndex.build(OFFERS, embedder, tmp_path)
    with pytest.raises(InvalidInputError, match=message):
        index.search(query, k=k)


def test_customer_query_uses_labels():
    query = customer_query({"favorite_category": "meat_fish", "segment": "family", "channel_preference": "in_store"})
    assert query == "meat fish offer for a family shopper who buys in store"
