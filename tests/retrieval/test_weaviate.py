"""Weaviate backend contract: the same behaviour as pgvector, against a live server."""

import os
import uuid

import pytest

from loyaltylens.retrieval.weaviate_store import WeaviateRetriever

pytestmark = pytest.mark.skipif(
    not os.environ.get("WEAVIATE_URL"), reason="WEAVIATE_URL not set (a Weaviate server to test against)"
)


@pytest.fixture
def weaviate(embedder, offers):
    retriever = WeaviateRetriever(
        os.environ["WEAVIATE_URL"],
        embedder,
        collection=f"Test{uuid.uuid4().hex[:8]}",
        grpc_port=int(os.environ.get("WEAVIATE_GRPC_PORT", "50051")),
    )
    retriever.index(offers)
    yield retriever
    retriever.drop()
    retriever.close()


def test_index_search_filters_upsert_delete(weaviate, offers, monkeypatch):
    assert weaviate.count() == len(offers)
    assert weaviate.search("baby nappies", k=1)[0].offer_id == 2
    assert {h.offer_id for h in weaviate.search("cheese", 6, {"channel": "mobile"})} == {1, 2, 5}
    assert 4 not in {h.offer_id for h in weaviate.search("cheese", 6, {"active_at": "2026-03-01"})}
    assert weaviate.search("voucher ZQX7K", 1, mode="sparse")[0].offer_id == 6
    assert weaviate.search("voucher ZQX7K", 6, mode="hybrid")
    monkeypatch.setattr(weaviate.embedder, "embed", lambda texts: pytest.fail("re-embedded an unchanged offer"))
    assert weaviate.index(offers).unchanged == len(offers)
    assert weaviate.delete([2]) == 1 and weaviate.count() == len(offers) - 1
