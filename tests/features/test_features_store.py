"""The feature store: online lookups, versions, errors, diff, and crash-safe publishing."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loyaltylens.errors import (
    DataValidationError,
    InvalidInputError,
    NotFoundError,
    UnknownCustomerError,
    UnknownVersionError,
)
from loyaltylens.features.compute import as_of_timestamp, compute_features, connect, snapshot_dates
from loyaltylens.features.definitions import FEATURE_NAMES, PAIR_FEATURE_NAMES
from loyaltylens.features.pairs import PAIR_TRAINING_COLUMNS, build_pair_index, compute_pair_training_frame
from loyaltylens.features.store import FeatureStore, VersionInfo


@pytest.fixture(scope="module")
def online(built_store: FeatureStore, built_version: VersionInfo) -> pd.DataFrame:
    """The built version's online table, to publish variants of it into other stores."""
    return built_store.get_online_frame(built_version.version)


def test_online_lookup_returns_the_features_as_of_the_version(
    built_store: FeatureStore, built_version: VersionInfo, dataset_dir: Path
) -> None:
    expected = compute_features(connect(dataset_dir), as_of_timestamp(built_version.as_of)).set_index("customer_id")
    batch = built_store.get_features([42, 7, 42])
    assert batch.values.dtype == np.float32 and batch.values.shape == (3, len(FEATURE_NAMES))
    assert batch.customer_ids.tolist() == [42, 7, 42] and batch.version == "v0001"
    np.testing.assert_array_equal(batch.values, expected.loc[[42, 7, 42], list(FEATURE_NAMES)].to_numpy(np.float32))


def test_batch_views(built_store: FeatureStore) -> None:
    batch = built_store.get_features([5])
    record = batch.to_records()[0]
    assert record["customer_id"] == 5 and list(record)[1:] == list(FEATURE_NAMES)
    assert isinstance(record["segment"], str) and isinstance(record["recency_days"], float)
    frame = batch.to_frame()
    assert list(frame.columns) == ["customer_id", *FEATURE_NAMES] and frame["segment"].dtype == np.int16


def test_unknown_customers_are_listed(built_store: FeatureStore) -> None:
    with pytest.raises(UnknownCustomerError, match="999998, 999999 in feature version v0001") as error:
        built_store.get_features([1, 999999, 999998])
    assert error.value.customer_ids == [999998, 999999]


@pytest.mark.parametrize("bad", [[], ["42"], [1.5], [[1, 2]]])
def test_malformed_ids_are_invalid_input(built_store: FeatureStore, bad: list) -> None:
    with pytest.raises(InvalidInputError):
        built_store.get_features(bad)


def test_unknown_version_lists_the_existing_ones(built_store: FeatureStore) -> None:
    with pytest.raises(UnknownVersionError, match="existing versions: v0001"):
        built_store.get_features([1], version="v0007")
    assert built_store.resolve("1") == built_store.resolve("v1") == built_store.resolve("latest") == "v0001"


def test_empty_store_says_how_to_build(store: FeatureStore) -> None:
    assert store.list_versions() == []
    with pytest.raises(NotFoundError, match="run `loyaltylens features build`"):
        store.get_features([1])


def test_versions_are_numbered_and_latest_moves(store: FeatureStore, online: pd.DataFrame) -> None:
    # another instance, e.g. a server, already reading the store (re-listing versions on every call)
    reader = FeatureStore(store.catalog, store.data_path, refresh_seconds=0)
    first = store.publish(online, {"as_of": "2026-11-01"})
    assert reader.get_features([1]).version == first.version == "v0001"
    second = store.publish(online, {"as_of": "2026-11-02"})
    assert [v.version for v in store.list_versions()] == ["v0001", "v0002"]
    assert reader.get_features([1]).version == second.version == "v0002"
    assert reader.get_features([1], version="v0001").as_of == "2026-11-01"


def test_publish_rejects_invalid_frames(store: FeatureStore, online: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="unknown category code 9 for 'segment'"):
        store.publish(online.assign(segment=9), {"as_of": "2026-11-01"})
    with pytest.raises(DataValidationError, match="customer_id: must be unique"):
        store.publish(pd.concat([online, online.head(1)]), {"as_of": "2026-11-01"})
    with pytest.raises(DataValidationError, match="missing column"):
        store.publish(online.drop(columns=["tenure_days"]), {"as_of": "2026-11-01"})
    assert store.list_versions() == []


def test_version_without_training_frame(store: FeatureStore, online: pd.DataFrame) -> None:
    store.publish(online, {"as_of": "2026-11-01"})
    with pytest.raises(NotFoundError, match="no training frame"):
        store.get_training_frame()


def test_diff_reports_the_changed_feature(store: FeatureStore, online: pd.DataFrame) -> None:
    store.publish(online, {"as_of": "2026-11-01"})
    store.publish(online.assign(recency_days=online["recency_days"] / 2), {"as_of": "2026-11-01"})
    diff = store.diff("v0001", "v0002")
    assert diff.changed_features == ["recency_days"]
    assert diff.schema_changes == [] and diff.row_counts["online"] == (len(online), len(online))
    halved = online["recency_days"].astype(float).mean() / 2
    assert f"recency_days: mean {2 * halved:.4g} -> {halved:.4g}" in str(diff)


def test_build_rejects_as_of_outside_the_dataset(store: FeatureStore, dataset_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="outside the dataset period"):
        store.build(dataset_dir, as_of="2030-01-01")


def test_build_records_where_the_version_came_from(built_version: VersionInfo, dataset_dir: Path) -> None:
    assert built_version.as_of == "2026-11-01" and built_version.label_window_days == 14
    assert built_version.dataset_id == dataset_dir.name
    assert built_version.dataset_hash.startswith("sha256:") and built_version.schema_hash.startswith("sha256:")
    assert built_version.online_rows == 3_000 and built_version.training_rows > 10_000


BUILD_UNTIL_COMMIT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from loyaltylens.features.store import FeatureStore

    def hang_before_commit(message, fraction):
        if message == "committing":  # every data file is written; only the catalog commit is left
            Path(sys.argv[4]).touch()
            time.sleep(600)

    FeatureStore(sys.argv[1], sys.argv[2]).build(Path(sys.argv[3]), progress=hang_before_commit)
    """
)


def test_killed_build_leaves_the_previous_version_intact(
    store: FeatureStore, online: pd.DataFrame, dataset_dir: Path, tmp_path: Path
) -> None:
    store.publish(online, {"as_of": "2026-11-01"})
    before = store.get_features([1, 2, 3]).values
    files_before = set(Path(store.data_path).rglob("*.parquet"))
    signal_file = tmp_path / "about-to-commit"
    child = subprocess.Popen(
        [sys.executable, "-c", BUILD_UNTIL_COMMIT, store.catalog, store.data_path, str(dataset_dir), str(signal_file)]
    )
    try:
        deadline = time.monotonic() + 60
        while not signal_file.exists():
            assert child.poll() is None and time.monotonic() < deadline, "build did not reach the commit"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()

    assert set(Path(store.data_path).rglob("*.parquet")) > files_before  # it died with its data written
    fresh = FeatureStore(store.catalog, store.data_path)
    assert [v.version for v in fresh.list_versions()] == ["v0001"]
    np.testing.assert_array_equal(fresh.get_features([1, 2, 3]).values, before)

    assert store.publish(online, {"as_of": "2026-11-02"}).version == "v0002"
    assert fresh.get_features([1], version="v0001").as_of == "2026-11-01"  # time travel to the old version


def test_pair_lookup_from_the_store_equals_the_pair_features_of_the_dataset(
    built_store: FeatureStore, built_version: VersionInfo, dataset_dir: Path
) -> None:
    """The version alone (online + customer_category + offers tables) answers (customer, offer) lookups with
    the very rows the dataset's events give at its as-of, in one call."""
    index = build_pair_index(connect(dataset_dir), as_of_timestamp(built_version.as_of))
    offers = built_store.get_offers()
    customers = np.repeat(index.customer_ids[[3, 40, 3]], len(offers))
    offer_ids = np.tile(offers["offer_id"].to_numpy(), 3)
    batch = built_store.get_pair_features(customers, offer_ids)
    assert batch.values.shape == (len(customers), len(PAIR_FEATURE_NAMES)) and batch.values.dtype == np.float32
    np.testing.assert_array_equal(batch.values, index.lookup(customers, offer_ids))
    assert batch.version == built_version.version and built_version.has_offer_tables


def test_pair_lookup_errors_name_the_problem(built_store: FeatureStore) -> None:
    offer = int(built_store.get_offers()["offer_id"].iloc[0])
    with pytest.raises(UnknownCustomerError, match="999999"):
        built_store.get_pair_features([1, 999999], [offer, offer])
    with pytest.raises(NotFoundError, match="unknown offer id"):
        built_store.get_pair_features([1], [987654])
    with pytest.raises(InvalidInputError, match="pair up one to one"):
        built_store.get_pair_features([1, 2], [offer])
    with pytest.raises(InvalidInputError, match="offer_ids must be a non-empty list of integers"):
        built_store.get_pair_features([1], ["x"])


def test_the_training_frame_is_the_pair_frame_of_the_versions_campaigns(
    built_store: FeatureStore, built_version: VersionInfo, dataset_dir: Path
) -> None:
    frame = built_store.get_training_frame()
    snapshots = snapshot_dates(dataset_dir, as_of_timestamp(built_version.as_of), built_version.label_window_days)
    expected = compute_pair_training_frame(connect(dataset_dir), snapshots, built_version.label_window_days)
    assert len(frame) == built_version.training_rows == len(expected) > 0
    assert list(frame.columns) == list(PAIR_TRAINING_COLUMNS)
    expected = expected.sort_values(["as_of", "assignment_id"], ignore_index=True)
    np.testing.assert_array_equal(
        frame[list(PAIR_FEATURE_NAMES)].to_numpy(np.float32), expected[list(PAIR_FEATURE_NAMES)].to_numpy(np.float32)
    )
    assert frame["label"].tolist() == expected["label"].tolist()


def test_a_version_published_without_offer_tables_says_so(store: FeatureStore, online: pd.DataFrame) -> None:
    store.publish(online, {"as_of": "2026-06-01"})
    with pytest.raises(NotFoundError, match="without offer tables"):
        store.get_pair_features([int(online["customer_id"].iloc[0])], [1])
