"""LlamaIndex's PGVectorStore over the pgvector table: same rows, same top-k as the native backend."""

import pytest

from loyaltylens.retrieval.llamaindex_store import LlamaIndexRetriever
from loyaltylens.retrieval.pgvector_store import PgVectorRetriever

QUERIES = ["baby nappies", "cheese and butter", "drinks online", "household cleaning", "chocolate"]


@pytest.fixture
def both(pg_url, embedder, offers):
    with PgVectorRetriever(pg_url, embedder) as native:
        native.index(offers)
        llama = LlamaIndexRetriever(native)
        yield native, llama
        llama.close()


@pytest.mark.parametrize(
    "filters", [None, {"channel": "in_store"}, {"category": ["dairy", "baby"]}, {"active_at": "2026-06-10"}]
)
def test_llamaindex_returns_the_native_top_k(both, filters):
    native, llama = both
    for query in QUERIES:
        expected = [h.offer_id for h in native.search(query, 3, filters)]
        assert [h.offer_id for h in llama.search(query, 3, filters)] == expected
        scores = [h.score for h in llama.search(query, 3, filters)]
        assert scores == pytest.approx([h.score for h in native.search(query, 3, filters)], abs=1e-5)


def test_native_llamaindex_retriever_and_hybrid(both):
    native, llama = both
    nodes = llama.as_retriever(k=2).retrieve("baby nappies")
    assert nodes[0].node.metadata["offer_id"] == 2 and nodes[0].node.get_content().startswith("Nappies deal.")
    assert [h.offer_id for h in llama.search("voucher ZQX7K", 1, mode="sparse")] == [6]
    assert {h.offer_id for h in llama.search("cheese", 3, mode="hybrid")} == {
        h.offer_id for h in native.search("cheese", 3, mode="hybrid")
    }
