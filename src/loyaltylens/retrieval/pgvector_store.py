"""pgvector backend: offers in one Postgres table, HNSW cosine index, BM25-style full text, hybrid by RRF.

The table has LlamaIndex ``PGVectorStore``'s layout (``data_<name>``: ``id``, ``text``, ``metadata_`` JSONB,
``node_id``, ``embedding vector(d)``, generated ``text_search_tsv``), so LlamaIndex reads the same rows
(``llamaindex_store``). ``text`` is the offer's search text (title, description, category), which is
what ``ts_rank`` ranks. Setup is idempotent (``IF NOT EXISTS`` throughout); every filter value is a bound
parameter. Connections come from a pool with a connect timeout, so a stopped server is an error in
seconds, never a hang.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from loyaltylens.config import Settings
from loyaltylens.errors import InvalidInputError, ServiceUnavailableError
from loyaltylens.retrieval.base import (
    SEARCH_MODES,
    IndexReport,
    OfferDocument,
    OfferFilters,
    OfferHit,
    OfferRetriever,
    check_k,
    check_mode,
    check_query,
    check_vector,
    hit_from_metadata,
    offer_documents,
    parse_filters,
    reciprocal_rank_fusion,
)
from loyaltylens.retrieval.embeddings import TextEmbedder

log = logging.getLogger(__name__)

TEXT_SEARCH_CONFIG = "english"
# A filtered HNSW scan drops ineligible neighbours after the beam search, so filtered queries widen the
# beam; if still fewer than k survive, the query is re-run as an exact scan (always correct).
FILTERED_EF_SEARCH = 400
# Each list hybrid search fuses is this deep (at least k): RRF needs more than the final k to re-rank.
HYBRID_DEPTH = 50
# Loading this many rows into an empty table goes through COPY with the HNSW index built afterwards.
BULK_LOAD_ROWS = 1000


@dataclass(frozen=True)
class HnswParams:
    """HNSW build (m, ef_construction) and search (ef_search) parameters; defaults from the settings."""

    m: int = Settings.model_fields["hnsw_m"].default
    ef_construction: int = Settings.model_fields["hnsw_ef_construction"].default
    ef_search: int = Settings.model_fields["hnsw_ef_search"].default


class PgVectorRetriever(OfferRetriever):
    """Offer index in Postgres + pgvector at ``url`` (libpq URL), table ``<schema>.data_<table>``."""

    name = "pgvector"
    modes = SEARCH_MODES

    def __init__(
        self,
        url: str,
        embedder: TextEmbedder,
        table: str = "offers",
        schema: str = "public",
        hnsw: HnswParams | None = None,
        connect_timeout: int = 5,
        pool_size: int = 4,
    ):
        self.url = url
        self.embedder = embedder
        self.table_name = f"data_{table}".lower()
        self.schema = schema
        self.hnsw = hnsw or HnswParams()
        self.connect_timeout = connect_timeout
        self.dimension = embedder.dimension
        self._table = sql.Identifier(schema, self.table_name)
        self._setup()
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": connect_timeout},
            configure=self._configure,
            timeout=connect_timeout,
            open=False,
            name=f"loyaltylens-{self.table_name}",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise self.unavailable(exc) from None

    # -- setup ---------------------------------------------------------------------------------------

    def _setup(self) -> None:
        """Extension, schema, table and its secondary indexes, all idempotent; checks the stored dimension."""
        with self._connect() as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            conn.execute(
                sql.SQL(
                    """CREATE TABLE IF NOT EXISTS {table} (
                        id BIGSERIAL PRIMARY KEY,
                        text VARCHAR NOT NULL,
                        metadata_ JSONB,
                        node_id VARCHAR,
                        embedding vector({dim}),
                        text_search_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector({config}, text)) STORED
                    )"""
                ).format(table=self._table, dim=sql.Literal(self.dimension), config=sql.Literal(TEXT_SEARCH_CONFIG))
            )
            stored = conn.execute(
                """SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                   WHERE attrelid = %s::regclass AND attname = 'embedding'""",
                (f'"{self.schema}"."{self.table_name}"',),
            ).fetchone()[0]
            if stored != f"vector({self.dimension})":
                raise InvalidInputError(
                    f"table {self.schema}.{self.table_name} stores {stored} embeddings but the embedder "
                    f"produces {self.dimension}-d vectors; index into another table or drop this one"
                )
            for name, definition in (
                ("node_id_key", sql.SQL("UNIQUE INDEX IF NOT EXISTS {} ON {} (node_id)")),
                ("tsv_idx", sql.SQL("INDEX IF NOT EXISTS {} ON {} USING gin (text_search_tsv)")),
            ):
                index_name = sql.Identifier(f"{self.table_name}_{name}")
                conn.execute(sql.SQL("CREATE ") + definition.format(index_name, self._table))

    def _ensure_hnsw_index(self, conn: psycopg.Connection) -> None:
        """Build the HNSW index if missing (after a bulk load, which is much faster than inserting into it)."""
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding vector_cosine_ops) "
                "WITH (m = {}, ef_construction = {})"
            ).format(
                sql.Identifier(f"{self.table_name}_embedding_idx"),
                self._table,
                sql.Literal(self.hnsw.m),
                sql.Literal(self.hnsw.ef_construction),
            )
        )

    def _configure(self, conn: psycopg.Connection) -> None:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(self.hnsw.ef_search)))

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout)
        except psycopg.OperationalError as exc:
            raise self.unavailable(exc) from None

    @property
    def _where(self) -> str:
        return self.url.split("@")[-1]  # never echo a password

    def unavailable(self, exc: Exception) -> ServiceUnavailableError:
        return ServiceUnavailableError(
            f"Postgres at {self._where} is unreachable within {self.connect_timeout}s "
            f"({str(exc).strip() or type(exc).__name__})"
        )

    def _run(self, work, retry: bool = False):
        """Run ``work(conn)`` on a pooled connection; connection failures become ``ServiceUnavailableError``.

        Pooled connections are not checked on checkout (a round trip on every search); a read (``retry``) that
        fails on a connection the server dropped (a restart) runs once more after the pool has checked its idle
        connections and replaced the broken ones."""
        for attempt in range(2 if retry else 1):
            conn = None
            try:
                with self._pool.connection(timeout=self.connect_timeout) as conn:
                    return work(conn)
            except PoolTimeout as exc:
                raise self.unavailable(exc) from None
            except psycopg.OperationalError as exc:
                if attempt == 1 or not retry or conn is None or not conn.broken:
                    raise self.unavailable(exc) from None
                log.info("pooled connection to %s was broken (%s); checking the pool, retrying", self._where, exc)
                self._pool.check()  # a restart dropped the idle ones too: replace those that fail a round trip
        raise AssertionError("unreachable")  # every attempt returns or raises

    # -- writes --------------------------------------------------------------------------------------

    def index(self, offers: pd.DataFrame, embeddings: np.ndarray | None = None, prune: bool = True) -> IndexReport:
        started = time.perf_counter()
        documents = offer_documents(offers)
        if embeddings is not None and np.asarray(embeddings).shape != (len(documents), self.dimension):
            raise InvalidInputError(
                f"embeddings have shape {list(np.asarray(embeddings).shape)}; "
                f"expected [{len(documents)}, {self.dimension}]"
            )

        def write(conn: psycopg.Connection) -> IndexReport:
            stored = dict(conn.execute(sql.SQL("SELECT node_id, metadata_ FROM {}").format(self._table)).fetchall())
            changed = [i for i, d in enumerate(documents) if stored.get(d.node_id) != d.metadata]
            to_embed = [
                i
                for i in changed
                if (stored.get(documents[i].node_id) or {}).get("text_hash") != documents[i].text_hash
            ]
            vectors = self._vectors(documents, to_embed, embeddings)
            metadata_only = [i for i in changed if i not in vectors]
            gone = sorted(set(stored) - {d.node_id for d in documents}) if prune else []
            with conn.transaction():
                if gone:
                    conn.execute(sql.SQL("DELETE FROM {} WHERE node_id = ANY(%s)").format(self._table), (gone,))
                if len(to_embed) > BULK_LOAD_ROWS and not stored:
                    self._copy(conn, [documents[i] for i in to_embed], [vectors[i] for i in to_embed])
                else:
                    self._upsert(conn, [(documents[i], vectors[i]) for i in to_embed])
                if metadata_only:
                    conn.cursor().executemany(
                        sql.SQL("UPDATE {} SET metadata_ = %s WHERE node_id = %s").format(self._table),
                        [(Jsonb(documents[i].metadata), documents[i].node_id) for i in metadata_only],
                    )
            self._ensure_hnsw_index(conn)
            return IndexReport(
                embedded=len(to_embed) if embeddings is None else 0,
                written=len(changed),
                deleted=len(gone),
                unchanged=len(documents) - len(changed),
            )

        report = self._run(write)
        report.seconds = time.perf_counter() - started
        return report

    def _vectors(
        self, documents: list[OfferDocument], rows: list[int], embeddings: np.ndarray | None
    ) -> dict[int, np.ndarray]:
        if not rows:
            return {}
        if embeddings is not None:
            matrix = np.asarray(embeddings, dtype=np.float32)[rows]
        else:
            matrix = self.embedder.embed([documents[i].search_text for i in rows])
        return dict(zip(rows, matrix, strict=True))

    def _upsert(self, conn: psycopg.Connection, rows: list[tuple[OfferDocument, np.ndarray]]) -> None:
        if not rows:
            return
        conn.cursor().executemany(
            sql.SQL(
                """INSERT INTO {} (text, metadata_, node_id, embedding) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (node_id) DO UPDATE
                   SET text = EXCLUDED.text, metadata_ = EXCLUDED.metadata_, embedding = EXCLUDED.embedding"""
            ).format(self._table),
            [(d.search_text, Jsonb(d.metadata), d.node_id, v) for d, v in rows],
        )

    def _copy(self, conn: psycopg.Connection, documents: list[OfferDocument], vectors: list[np.ndarray]) -> None:
        """Bulk load into an empty table: drop the HNSW index, COPY, and let ``_ensure_hnsw_index`` rebuild it."""
        conn.execute(
            sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(self.schema, f"{self.table_name}_embedding_idx"))
        )
        statement = sql.SQL("COPY {} (text, metadata_, node_id, embedding) FROM STDIN WITH (FORMAT BINARY)")
        with conn.cursor().copy(statement.format(self._table)) as copy:
            copy.set_types(["varchar", "jsonb", "varchar", "vector"])
            for document, vector in zip(documents, vectors, strict=True):
                copy.write_row((document.search_text, Jsonb(document.metadata), document.node_id, vector))

    def delete(self, offer_ids: Sequence[int]) -> int:
        ids = [str(int(i)) for i in offer_ids]
        return self._run(
            lambda conn: (
                conn.execute(sql.SQL("DELETE FROM {} WHERE node_id = ANY(%s)").format(self._table), (ids,)).rowcount
            )
        )

    def drop(self) -> None:
        """Drop the table (and its indexes)."""
        self._run(lambda conn: conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._table)))

    # -- reads ---------------------------------------------------------------------------------------

    def count(self) -> int:
        return self._run(
            lambda conn: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._table)).fetchone()[0], retry=True
        )

    def search(
        self, query: str, k: int = 5, filters: OfferFilters | Mapping[str, object] | None = None, mode: str = "dense"
    ) -> list[OfferHit]:
        check_query(query, k)
        check_mode(mode, self.modes, self.name)
        eligible = parse_filters(filters)
        if mode == "dense":
            return self.search_vector(self.embedder.embed_query(query), k, eligible)
        if mode == "sparse":
            return self._run(lambda conn: self._sparse(conn, query, k, eligible), retry=True)
        depth = max(k, HYBRID_DEPTH)
        vector = self.embedder.embed_query(query)

        def hybrid(conn: psycopg.Connection) -> list[OfferHit]:
            dense, sparse = self._dense(conn, vector, depth, eligible, sparse_query=query)
            by_id = {hit.offer_id: hit for hit in (*sparse, *dense)}
            fused = reciprocal_rank_fusion([[h.offer_id for h in dense], [h.offer_id for h in sparse]])
            return [_rescored(by_id[offer_id], score) for offer_id, score in fused[:k]]

        return self._run(hybrid, retry=True)

    def search_vector(
        self, vector: np.ndarray, k: int = 5, filters: OfferFilters | Mapping[str, object] | None = None
    ) -> list[OfferHit]:
        check_k(k)
        vector = check_vector(vector, self.dimension)
        eligible = parse_filters(filters)
        return self._run(lambda conn: self._dense(conn, vector, k, eligible)[0], retry=True)

    def all_embeddings(self) -> tuple[list[dict], np.ndarray]:
        """Every stored document's metadata and embedding (for exact search over the same vectors)."""
        rows = self._run(
            lambda conn: conn.execute(
                sql.SQL("SELECT metadata_, embedding FROM {} ORDER BY id").format(self._table)
            ).fetchall(),
            retry=True,
        )
        vectors = [np.asarray(r[1].to_numpy() if hasattr(r[1], "to_numpy") else r[1], np.float32) for r in rows]
        matrix = np.stack(vectors) if rows else np.zeros((0, self.dimension), np.float32)
        return [r[0] for r in rows], matrix

    def _dense(
        self,
        conn: psycopg.Connection,
        vector: np.ndarray,
        k: int,
        filters: OfferFilters,
        sparse_query: str | None = None,
    ) -> tuple[list[OfferHit], list[OfferHit]]:
        """The ``k`` nearest eligible offers and, with ``sparse_query``, the ``k`` best full-text matches too.

        The widened beam (filtered queries only), the vector query and the full-text query go to the server in
        one round trip (:func:`_pipelined`), where sending them one by one waited for each (five round trips for
        a hybrid search). The exact re-scan, when the filtered beam kept fewer than ``k``, is a second one (it
        needs the first one's count)."""
        where, params = _where(filters)
        statement = sql.SQL(
            "SELECT metadata_, 1 - (embedding <=> %b) FROM {} WHERE {} ORDER BY embedding <=> %b LIMIT %s"
        ).format(self._table, where)
        query = (statement, (vector, *params, vector, k))
        beam = []
        if not filters.is_empty:
            ef_search = min(max(self.hnsw.ef_search, FILTERED_EF_SEARCH, k), 1000)
            beam = [sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search))]
        sparse = [] if sparse_query is None else [self._sparse_query(sparse_query, k, filters)]
        dense, *matched = _pipelined(conn, beam, [query, *sparse])
        rows = dense.fetchall()
        if not filters.is_empty and len(rows) < k:  # an exact scan: the planner may not use the HNSW index
            (exact,) = _pipelined(conn, [*beam, sql.SQL("SET LOCAL enable_indexscan = off")], [query])
            rows = exact.fetchall()
        matches = matched[0].fetchall() if matched else []
        return [hit_from_metadata(m, score) for m, score in rows], [hit_from_metadata(m, rank) for m, rank in matches]

    def _sparse(self, conn: psycopg.Connection, query: str, k: int, filters: OfferFilters) -> list[OfferHit]:
        rows = conn.execute(*self._sparse_query(query, k, filters)).fetchall()
        return [hit_from_metadata(metadata, score) for metadata, score in rows]

    def _sparse_query(self, query: str, k: int, filters: OfferFilters) -> tuple[sql.Composed, tuple]:
        # plainto_tsquery ANDs the words; ranking by any of them (OR) is what BM25-style retrieval does.
        where, params = _where(filters)
        statement = sql.SQL(
            """SELECT metadata_, ts_rank(text_search_tsv, q) AS rank
               FROM {}, (SELECT replace(plainto_tsquery({config}, %s)::text, '&', '|')::tsquery AS q) AS search
               WHERE text_search_tsv @@ q AND {}
               ORDER BY rank DESC, id LIMIT %s"""
        ).format(self._table, where, config=sql.Literal(TEXT_SEARCH_CONFIG))
        return statement, (query, *params, k)

    def close(self) -> None:
        self._pool.close()


def _pipelined(
    conn: psycopg.Connection, settings: list[sql.Composable], queries: list[tuple[sql.Composable, tuple]]
) -> list[psycopg.Cursor]:
    """Run ``queries`` in one transaction under ``settings`` (``SET LOCAL`` statements), all sent together and
    answered in one round trip; their cursors hold the results. BEGIN and COMMIT are statements here:
    ``conn.transaction()`` would wait for the server on entry and on exit."""
    try:
        with conn.pipeline():
            conn.execute("BEGIN")
            for setting in settings:
                conn.execute(setting)
            cursors = [conn.execute(statement, arguments) for statement, arguments in queries]
            conn.execute("COMMIT")
    except psycopg.Error:
        if not conn.broken:
            conn.rollback()  # the statements after a failed one were skipped, COMMIT too
        raise
    return cursors


def _where(filters: OfferFilters) -> tuple[sql.Composable, list]:
    """The WHERE clause of ``filters`` over ``metadata_`` with bound parameters (``TRUE`` if none)."""
    clauses: list[sql.Composable] = []
    params: list = []
    if filters.channels is not None:
        clauses.append(sql.SQL("metadata_->>'channel' = ANY(%s)"))
        params.append(filters.channels)
    if filters.categories:
        clauses.append(sql.SQL("metadata_->>'category' = ANY(%s)"))
        params.append(list(filters.categories))
    if filters.active_from is not None:
        clauses.append(sql.SQL("(metadata_->>'start_date')::date <= %s"))
        params.append(filters.active_from)
    if filters.active_to is not None:
        clauses.append(sql.SQL("(metadata_->>'end_date')::date >= %s"))
        params.append(filters.active_to)
    return (sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("TRUE")), params


def _rescored(hit: OfferHit, score: float) -> OfferHit:
    from dataclasses import replace

    return replace(hit, score=score)
