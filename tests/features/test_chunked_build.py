"""The bounded-memory build (issue #17): chunks of customers and the on-disk connection change no value.

Every frame and index is compared exactly (values, column order, dtypes) across three ways to compute it:
per chunk of a few hundred customers, in one query, and in one query over the previous kind of connection
(tables loaded into an in-memory database as read from parquet, strings as strings).
"""

import gc
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loyaltylens.data.io import open_duckdb, register_views
from loyaltylens.data.schema import TABLES
from loyaltylens.errors import NotFoundError
from loyaltylens.features.compute import (
    as_of_timestamp,
    compute_features,
    connect,
    customer_ranges,
    snapshot_dates,
)
from loyaltylens.features.pairs import build_pair_index, compute_pair_training_frame
from tests.features.planting import append_rows
from tests.features.snapshot_frame import compute_training_frame

AS_OF = as_of_timestamp("2026-09-01")
WINDOW = 14
CHUNK = 700  # the 3,000-customer dataset in 5 chunks


@pytest.fixture(scope="module")
def connections(dataset_dir: Path):
    plain = open_duckdb()  # how connect() loaded the dataset before the bounded-memory build
    register_views(plain, dataset_dir, TABLES, materialize=True)
    return {"chunked": connect(dataset_dir), "plain": plain}


@pytest.fixture(scope="module")
def snapshots(dataset_dir: Path) -> list[datetime]:
    return snapshot_dates(dataset_dir, AS_OF, WINDOW)


def _ways(connections, compute):
    """``compute(con, chunk_customers)`` per chunk, in one query, and in one query on the plain connection."""
    return [
        compute(connections["chunked"], CHUNK),
        compute(connections["chunked"], None),
        compute(connections["plain"], None),
    ]


def _assert_same_frames(frames: list[pd.DataFrame]) -> None:
    assert len(frames[0]) > 0
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other, check_exact=True)


def test_ranges_cover_every_id_in_chunks_of_the_given_size(connections) -> None:
    con = connections["chunked"]
    ranges = customer_ranges(con, CHUNK)
    assert ranges[0][0] == -(2**63) and ranges[-1][1] == 2**63 - 1
    assert all(last + 1 == first for (_, last), (first, _) in pairwise(ranges))
    ids = con.execute("SELECT customer_id FROM customers").fetchnumpy()["customer_id"]
    sizes = [int(((ids >= first) & (ids <= last)).sum()) for first, last in ranges]
    assert sum(sizes) == len(ids) and max(sizes) == CHUNK and len(ranges) == -(-len(ids) // CHUNK)
    assert customer_ranges(con, None) == [(-(2**63), 2**63 - 1)]


def test_online_features_are_the_same_in_chunks(connections) -> None:
    _assert_same_frames(_ways(connections, lambda con, chunk: compute_features(con, AS_OF, chunk_customers=chunk)))


def test_training_frame_is_the_same_in_chunks(connections, snapshots) -> None:
    assert len(snapshots) > 3
    frames = _ways(
        connections, lambda con, chunk: compute_training_frame(con, snapshots, WINDOW, chunk_customers=chunk)
    )
    _assert_same_frames(frames)
    assert frames[0]["label"].any() and frames[0]["treated_in_window"].any()


def test_pair_training_frame_is_the_same_in_chunks(connections, snapshots) -> None:
    _assert_same_frames(
        _ways(
            connections,
            lambda con, chunk: compute_pair_training_frame(con, snapshots, WINDOW, chunk_customers=chunk),
        )
    )


def test_pair_index_is_the_same_in_chunks(connections) -> None:
    indexes = _ways(connections, lambda con, chunk: build_pair_index(con, AS_OF, chunk_customers=chunk))
    for other in indexes[1:]:
        for name in (
            "customer_ids",
            "customer_features",
            "category_share",
            "days_since_purchase",
            "category_redemption_rate",
            "offer_ids",
        ):
            expected, actual = getattr(indexes[0], name), getattr(other, name)
            assert expected.dtype == actual.dtype and np.array_equal(expected, actual), name
        pd.testing.assert_frame_equal(indexes[0].offers, other.offers, check_exact=True)


def test_an_assignment_to_an_unknown_customer_still_fails(dataset_copy: Path, snapshots) -> None:
    """Chunks cover every id: a row outside the customers gets no silent default, it raises as before."""
    snapshot = snapshots[-1]
    append_rows(
        dataset_copy,
        "campaigns",
        {
            "assignment_id": [10**9],
            "campaign_id": [999],
            "customer_id": [10**9],
            "offer_id": [1],
            "sent_ts": [snapshot.replace(hour=9)],
            "treated": [True],
            "logging_probability": [0.5],
        },
    )
    con = connect(dataset_copy)
    for chunk in (CHUNK, None):
        with pytest.raises(NotFoundError, match="customer"):
            compute_pair_training_frame(con, [snapshot], WINDOW, chunk_customers=chunk)


def test_connection_keeps_no_file_and_its_directory_goes_with_it(dataset_dir: Path, tmp_path: Path) -> None:
    con = connect(dataset_dir, memory_limit="300MB", temp_dir=tmp_path)
    (workdir,) = tmp_path.iterdir()
    assert not (workdir / "dataset.duckdb").exists()  # unlinked at once; DuckDB reads its open file
    assert con.execute("SELECT count(*) FROM transactions").fetchone()[0] > 0
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0].startswith("286")  # 300 MB in MiB
    assert Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0]).parent == workdir
    del con
    gc.collect()
    assert not any(tmp_path.iterdir())
