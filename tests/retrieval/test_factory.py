"""Backend choice from settings and per request."""

import pytest

from loyaltylens.config import get_settings
from loyaltylens.errors import InvalidInputError, LoyaltyLensError
from loyaltylens.retrieval.factory import Retrievers, build_retriever


@pytest.fixture
def settings(pg_url, isolated_settings, monkeypatch):
    monkeypatch.setenv("LOYALTYLENS_POSTGRES_URL", pg_url)
    get_settings.cache_clear()
    return get_settings()


def test_per_request_backends_share_one_catalog(settings, embedder, offers):
    retrievers = Retrievers(settings, embedder)
    assert retrievers.get().name == "pgvector" and retrievers.get() is retrievers.get("pgvector")
    retrievers.get().index(offers)
    top = {
        name: [h.offer_id for h in retrievers.get(name).search("cheese", 3)]
        for name in ("pgvector", "llamaindex", "exact")
    }
    assert top["pgvector"] == top["llamaindex"] == top["exact"]
    retrievers.close()


def test_unknown_backend_and_missing_weaviate_url(settings):
    with pytest.raises(InvalidInputError, match="unknown retriever 'faiss'"):
        build_retriever(settings, "faiss")
    with pytest.raises(InvalidInputError, match="LOYALTYLENS_WEAVIATE_URL"):
        build_retriever(settings, "weaviate")


@pytest.mark.parametrize("backend", ["pgvector", "llamaindex", "exact"])
def test_no_postgres_url_is_a_clear_error_and_starts_nothing(backend, isolated_settings, monkeypatch, embedder):
    """The library never starts a server: that is the local entry points' job (``with_postgres``)."""
    monkeypatch.delenv("LOYALTYLENS_POSTGRES_URL", raising=False)
    settings = isolated_settings.model_copy(update={"postgres_url": None})
    with pytest.raises(LoyaltyLensError, match="set LOYALTYLENS_POSTGRES_URL"):
        build_retriever(settings, backend, embedder)
    assert not (settings.data_dir / "postgres").exists()
