"""pgvector backend against the real embedded Postgres: index, upsert, delete, filters, modes, errors, restart."""

import time

import numpy as np
import pytest

from loyaltylens.errors import InvalidInputError, ServiceUnavailableError
from loyaltylens.local.postgres import embedded_postgres_url, stop_embedded_postgres
from loyaltylens.retrieval.base import reciprocal_rank_fusion
from loyaltylens.retrieval.embeddings import TextEmbedder
from loyaltylens.retrieval.exact import ExactRetriever
from loyaltylens.retrieval.pgvector_store import PgVectorRetriever


@pytest.fixture
def store(pg_url, embedder, offers):
    with PgVectorRetriever(pg_url, embedder) as retriever:
        retriever.index(offers)
        yield retriever


def ids(hits):
    return [hit.offer_id for hit in hits]


def test_index_then_search_by_meaning(store, offers):
    assert store.count() == len(offers)
    assert ids(store.search("baby nappies", k=1)) == [2]
    hit = store.search("soft drinks", k=1)[0]
    assert (hit.category, hit.channel, hit.discount_pct) == ("beverages", "web", 10.0)
    assert 0.0 < hit.score <= 1.0


def test_reindexing_unchanged_offers_embeds_and_writes_nothing(store, offers, monkeypatch):
    monkeypatch.setattr(store.embedder, "embed", lambda texts: pytest.fail("re-embedded an unchanged offer"))
    report = store.index(offers)
    assert (report.embedded, report.written, report.unchanged) == (0, 0, len(offers))


def test_upsert_changes_text_and_metadata(store, offers, embedder):
    changed = offers.copy()
    changed.loc[changed["offer_id"] == 3, "text"] = "10% off garden furniture and barbecues online"
    changed.loc[changed["offer_id"] == 5, "discount_pct"] = 40
    report = store.index(changed)
    assert (report.embedded, report.written) == (1, 2)  # a discount change rewrites metadata, no embedding
    assert ids(store.search("barbecue for the garden", k=1)) == [3]
    assert store.search("sea-salt crisps", k=1)[0].discount_pct == 40.0
    assert store.count() == len(offers)


def test_delete_and_prune(store, offers):
    assert store.delete([2, 99]) == 1
    assert 2 not in ids(store.search("baby nappies", k=6))
    report = store.index(offers[offers["offer_id"] != 1])  # prune: the index becomes this catalog
    assert report.deleted == 1 and store.count() == len(offers) - 2 + 1
    assert store.index(offers, prune=False).written == 1  # offer 1 back; nothing else touched


def test_filters(store):
    assert set(ids(store.search("cheese", k=6, filters={"channel": "mobile"}))) == {1, 2, 5}
    assert ids(store.search("cheese", k=6, filters={"category": "dairy"})) in ([1, 4], [4, 1])
    in_march = ids(store.search("cheese", k=6, filters={"active_at": "2026-03-01"}))
    assert 4 not in in_march and len(in_march) == 5  # Cheese week runs in June only
    window = ids(store.search("cheese", k=6, filters={"active_from": "2026-06-05", "active_to": "2026-07-05"}))
    assert 4 not in window  # active through the whole window, and Cheese week ends on June 30


def test_filtered_results_equal_exact_search(store, offers, embedder):
    exact = ExactRetriever(embedder)
    exact.index(offers)
    for filters in ({"channel": "in_store"}, {"category": ["dairy", "snacks"]}, {"active_at": "2026-06-15"}):
        assert ids(store.search("cheese and crisps", 3, filters)) == ids(exact.search("cheese and crisps", 3, filters))


def test_hybrid_finds_an_exact_term_that_dense_misses(store, offers):
    # Two short offers about vouchers in general pull the dense ranking away from the one with the code.
    vouchers = offers.iloc[[4, 4]].assign(
        offer_id=[10, 11],
        title=["Snack week", "Chocolate saver"],
        text=["Use your voucher for 10% off snacks", "A discount voucher for dark chocolate"],
    )
    store.index(vouchers, prune=False)
    query = "voucher ZQX7K"
    assert set(ids(store.search(query, k=2, mode="dense"))) == {10, 11}
    assert ids(store.search(query, k=1, mode="sparse")) == [6]  # the only offer with both terms
    assert 6 in ids(store.search(query, k=2, mode="hybrid"))


def test_reciprocal_rank_fusion():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 4]], k=60)
    assert [item for item, _ in fused] == [3, 1, 2, 4]  # 3 is in both lists
    assert fused[0][1] == pytest.approx(1 / 63 + 1 / 61)


@pytest.mark.parametrize(
    ("query", "k", "filters", "mode", "message"),
    [
        ("  ", 3, None, "dense", "query must not be empty"),
        ("milk", 0, None, "dense", "k must be"),
        ("milk", 3, {"colour": "red"}, "dense", "unknown filter"),
        ("milk", 3, {"channel": "fax"}, "dense", "unknown channel"),
        ("milk", 3, {"category": "cars"}, "dense", "unknown category"),
        ("milk", 3, {"active_at": "next week"}, "dense", "must be a date"),
        ("milk", 3, None, "semantic", "search mode"),
    ],
)
def test_bad_requests_are_clear_errors(store, query, k, filters, mode, message):
    with pytest.raises(InvalidInputError, match=message):
        store.search(query, k, filters, mode)


def test_dimension_mismatch(store, pg_url):
    with pytest.raises(InvalidInputError, match="384-d"):
        store.search_vector(np.ones(128, np.float32))

    class WideEmbedder(TextEmbedder):
        dimension = 768

    with pytest.raises(InvalidInputError, match=r"stores vector\(384\).*768-d"):
        PgVectorRetriever(pg_url, WideEmbedder())


def test_restart_keeps_data_and_a_stopped_database_is_a_clear_error(pg_scratch_dir, embedder, offers):
    pgdata = pg_scratch_dir / "postgres"
    with PgVectorRetriever(embedded_postgres_url(pgdata), embedder, connect_timeout=2) as retriever:
        retriever.index(offers)
        stop_embedded_postgres(pgdata)
        started = time.monotonic()
        with pytest.raises(ServiceUnavailableError, match="unreachable"):
            retriever.search("baby nappies", k=1)
        assert time.monotonic() - started < 10  # the connect timeout, not a hang
    with pytest.raises(ServiceUnavailableError):
        PgVectorRetriever(url_of_stopped := retriever.url, embedder, connect_timeout=2)
    assert url_of_stopped.startswith("postgresql://")
    with PgVectorRetriever(embedded_postgres_url(pgdata), embedder) as restarted:
        assert restarted.count() == len(offers)
        assert ids(restarted.search("baby nappies", k=1)) == [2]
    stop_embedded_postgres(pgdata)


def test_connections_the_server_dropped_are_replaced_on_the_next_search(store, pg_url):
    """Pooled connections are not checked on checkout: a search on one the server closed (a restart, a failover)
    runs again on a new connection instead of failing."""
    import psycopg

    for mode in ("hybrid", "dense", "sparse"):
        assert ids(store.search("baby nappies", k=1, mode=mode)) == [2]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            dropped = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()[0]
        assert dropped >= 1  # the pool's connection
        assert ids(store.search("baby nappies", k=1, mode=mode)) == [2]
    assert store.count() > 0
