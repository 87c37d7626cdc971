"""The versioned feature store: DuckLake snapshots, an in-memory online path, an offline training-frame path.

A store is a DuckLake (``features/lake.py``): a catalog (SQLite file locally, Postgres on a cluster) and
parquet data files (a local directory, or ``s3://`` on a cluster), so every pipeline step and server
reaches the same store by URI. Four tables are replaced together by each publish in **one DuckLake
transaction**: ``online`` (one row of customer features per member at as-of), ``customer_category`` and
``offers`` (with ``online``, they rebuild the ``PairFeatureIndex`` that serves (customer, offer) pair rows;
``features/pair_tables.py``) and ``training`` (one row per offer sent at each campaign snapshot: the pair's
point-in-time features and whether that offer was redeemed). The commit message names the version
(``feature version v0003``) and its extra info holds the metadata. A version is therefore a DuckLake snapshot:
readers see a whole version or none, older versions stay readable by time travel (``AT (VERSION =>
snapshot)``), and a build killed before its commit leaves nothing visible. Versions never change afterwards,
so their online tables and pair indexes can be cached; a customer lookup binary-searches a sorted id array
and gathers rows of a float32 matrix, a pair lookup adds numpy gathers of the offer and affinity columns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from loyaltylens.config import Settings
from loyaltylens.data.io import read_manifest
from loyaltylens.data.progress import ProgressCallback
from loyaltylens.errors import (
    DataValidationError,
    InvalidInputError,
    LoyaltyLensError,
    NotFoundError,
    UnknownCustomerError,
    UnknownVersionError,
)
from loyaltylens.features.compute import (
    as_of_timestamp,
    connect,
    snapshot_dates,
)
from loyaltylens.features.definitions import (
    AS_OF_COLUMN,
    ENTITY_COLUMN,
    FEATURE_NAMES,
    FEATURES,
    LABEL_COLUMN,
    OFFER_COLUMN,
    PAIR_FEATURE_NAMES,
    PAIR_FEATURES,
    TREATED_COLUMN,
)
from loyaltylens.features.lake import LAKE_ALIAS, open_lake
from loyaltylens.features.pair_tables import (
    CUSTOMER_CATEGORY_COLUMNS,
    OFFER_TABLE_DTYPES,
    PairTables,
    pair_index_from_tables,
    validate_offers,
)
from loyaltylens.features.pairs import (
    ASSIGNMENT_COLUMN,
    PAIR_TRAINING_COLUMNS,
    PairFeatureIndex,
    build_pair_index,
    compute_pair_training_frame,
)
from loyaltylens.objectstore import S3Options
from loyaltylens.vocabulary import validate_matrix

logger = logging.getLogger(__name__)

ONLINE_TABLE = "online"
# Offer-aware tables (features/pair_tables.py): rebuild the PairFeatureIndex with the online table.
CUSTOMER_CATEGORY_TABLE = "customer_category"
OFFERS_TABLE = "offers"
TRAINING_TABLE = "training"  # (customer, offer) rows: PAIR_TRAINING_COLUMNS
ALL_TABLES = (ONLINE_TABLE, CUSTOMER_CATEGORY_TABLE, OFFERS_TABLE, TRAINING_TABLE)
COMMIT_AUTHOR = "loyaltylens"
COMMIT_PREFIX = "feature version "  # DuckLake commit message of a publish: "feature version v0003"
COMMIT_RETRIES = 5  # a publish that lost a commit race to another writer is retried with the next number
_VERSION_NAME = re.compile(r"^v(\d+)$")
ONLINE_COLUMNS: tuple[str, ...] = (ENTITY_COLUMN, *FEATURE_NAMES)
# Storage dtype of each online column: the float32 model input, categoricals as small integer codes.
ONLINE_DTYPES: dict[str, str] = {
    ENTITY_COLUMN: "int64",
    **{f.name: "int16" if f.is_categorical else "float32" for f in FEATURES},
}
TRAINING_DTYPES: dict[str, str] = {
    ASSIGNMENT_COLUMN: "int64",
    ENTITY_COLUMN: "int64",
    OFFER_COLUMN: "int64",
    **{f.name: "int16" if f.is_categorical else "float32" for f in PAIR_FEATURES},
    LABEL_COLUMN: "bool",
    TREATED_COLUMN: "bool",
}


@dataclass(frozen=True)
class VersionInfo:
    """One published feature version, as recorded in its ``metadata.json``."""

    version: str
    snapshot_id: int  # the DuckLake snapshot that published it
    as_of: str  # ISO date: features use events strictly before it
    created_at: str
    online_rows: int
    training_rows: int  # rows of the (customer, offer) training frame; 0 if published without one
    has_offer_tables: bool  # customer_category + offers published: (customer, offer) lookups work
    schema_hash: str
    dataset_id: str | None
    dataset_hash: str | None
    label_window_days: int | None
    feature_names: tuple[str, ...]
    metadata: dict = field(repr=False)

    @classmethod
    def from_metadata(cls, snapshot_id: int, metadata: dict) -> VersionInfo:
        return cls(
            version=metadata["version"],
            snapshot_id=snapshot_id,
            as_of=metadata["as_of"],
            created_at=metadata["created_at"],
            online_rows=metadata["online_rows"],
            training_rows=metadata["training_rows"],
            has_offer_tables=metadata.get("offers_rows", 0) > 0,
            schema_hash=metadata["schema_hash"],
            dataset_id=metadata.get("dataset_id"),
            dataset_hash=metadata.get("dataset_hash"),
            label_window_days=metadata.get("label_window_days"),
            feature_names=tuple(metadata["feature_names"]),
            metadata=metadata,
        )


@dataclass(frozen=True)
class FeatureBatch:
    """Online features of some customers: ``values[i]`` is the model input row of ``customer_ids[i]``."""

    customer_ids: np.ndarray  # int64 [N]
    feature_names: tuple[str, ...]
    values: np.ndarray  # float32 [N, F] in FEATURE_NAMES order, categoricals as codes
    version: str
    as_of: str

    def to_records(self) -> list[dict]:
        """One dict per customer with ``customer_id`` and every feature; categoricals as their labels."""
        records = []
        for customer_id, row in zip(self.customer_ids.tolist(), self.values.tolist(), strict=True):
            record: dict = {ENTITY_COLUMN: customer_id}
            for feature, value in zip(FEATURES, row, strict=True):
                record[feature.name] = feature.categories[int(value)] if feature.is_categorical else value
            records.append(record)
        return records

    def to_frame(self) -> pd.DataFrame:
        """A frame laid out like the online table: ``customer_id``, then features (categoricals as codes)."""
        frame = pd.DataFrame(self.values, columns=list(self.feature_names))
        frame.insert(0, ENTITY_COLUMN, self.customer_ids)
        return frame.astype(ONLINE_DTYPES)


@dataclass(frozen=True)
class PairFeatureBatch:
    """Online features of (customer, offer) pairs: ``values[i]`` is the pair model's input row of
    ``(customer_ids[i], offer_ids[i])``, in ``PAIR_FEATURE_NAMES`` order."""

    customer_ids: np.ndarray  # int64 [N]
    offer_ids: np.ndarray  # int64 [N]
    values: np.ndarray  # float32 [N, len(PAIR_FEATURE_NAMES)], categoricals as codes
    version: str
    as_of: str

    @property
    def feature_names(self) -> tuple[str, ...]:
        return PAIR_FEATURE_NAMES


@dataclass(frozen=True)
class FeatureDelta:
    """How one feature's distribution moved between two versions (online tables)."""

    name: str
    mean: tuple[float, float]
    std: tuple[float, float]
    null_share: tuple[float, float]

    @property
    def changed(self) -> bool:
        return any(not np.isclose(a, b, rtol=1e-6, atol=1e-9) for a, b in (self.mean, self.std, self.null_share))


@dataclass(frozen=True)
class VersionDiff:
    """Differences between versions ``a`` and ``b``; ``str()`` gives a readable summary."""

    a: str
    b: str
    schema_changes: list[str]
    row_counts: dict[str, tuple[int, int]]  # "online" / "training" -> (a, b)
    features: list[FeatureDelta]
    context_changes: list[str]  # as-of, dataset, label window

    @property
    def changed_features(self) -> list[str]:
        return [delta.name for delta in self.features if delta.changed]

    def __str__(self) -> str:
        lines = [f"diff {self.a} -> {self.b}"]
        lines += [f"  {change}" for change in self.context_changes]
        lines += [f"  schema: {change}" for change in self.schema_changes] or ["  schema: unchanged"]
        for table, (a, b) in self.row_counts.items():
            lines.append(f"  {table} rows: {a:,} -> {b:,} ({b - a:+,})")
        changed = [d for d in self.features if d.changed]
        if not changed:
            lines.append("  features: no distribution change")
        for d in changed:
            lines.append(
                f"  {d.name}: mean {d.mean[0]:.4g} -> {d.mean[1]:.4g} ({d.mean[1] - d.mean[0]:+.4g}), "
                f"std {d.std[0]:.4g} -> {d.std[1]:.4g} ({d.std[1] - d.std[0]:+.4g}), "
                f"null share {d.null_share[0]:.2%} -> {d.null_share[1]:.2%}"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class _OnlineTable:
    ids: np.ndarray  # int64 [N], sorted ascending
    values: np.ndarray  # float32 [N, F], C-contiguous
    as_of: str


class FeatureStore:
    """Versioned feature store in a DuckLake (see the module docstring).

    Example:
        >>> store = FeatureStore.from_settings(get_settings())  # or FeatureStore.at(Path("/tmp/fs"))
        >>> info = store.build(dataset_dir)                  # publishes v0001
        >>> batch = store.get_features([17, 42])             # online: latest version, float32 [2, F]
        >>> frame = store.get_training_frame(info.version)   # offline: point-in-time snapshots + labels
    """

    def __init__(
        self,
        catalog: str,
        data_path: str,
        s3: S3Options | None = None,
        online_cache_size: int = 4,
        refresh_seconds: float = 2.0,
    ):
        """``catalog``: DuckLake catalog (``sqlite:<file>``, ``postgres:<libpq keywords>``); ``data_path``:
        directory or ``s3://`` prefix of the data files. "latest" is re-resolved at most every
        ``refresh_seconds``, so an online lookup does not query the catalog."""
        self.catalog = catalog
        self.data_path = data_path
        self.s3 = s3
        self.refresh_seconds = refresh_seconds
        self._online_cache_size = online_cache_size
        self._online: OrderedDict[str, _OnlineTable] = OrderedDict()
        self._pair_indexes: OrderedDict[str, PairFeatureIndex] = OrderedDict()
        self._versions: dict[str, VersionInfo] = {}  # name -> info, oldest first
        self._listed_at: float | None = None  # monotonic time of the last catalog listing
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.RLock()  # guards the connection and both caches

    @classmethod
    def from_settings(cls, settings: Settings) -> FeatureStore:
        """The store the settings name (``feature_store_catalog`` / ``feature_store_uri``; local by default)."""
        return cls(
            settings.feature_store_catalog_uri, settings.feature_store_data_uri, S3Options.from_settings(settings)
        )

    @classmethod
    def at(cls, root: Path) -> FeatureStore:
        """A local store under ``root``: ``catalog.sqlite`` and ``data/``."""
        root = Path(root)
        return cls(f"sqlite:{root / 'catalog.sqlite'}", str(root / "data"))

    def __repr__(self) -> str:
        return f"FeatureStore(catalog={self.catalog!r}, data_path={self.data_path!r})"

    # --- writing -----------------------------------------------------------------------------------
    def build(
        self,
        dataset_dir: Path,
        as_of: str | date | None = None,
        label_window_days: int = 14,
        progress: ProgressCallback | None = None,
    ) -> VersionInfo:
        """Compute features of ``dataset_dir`` as of ``as_of`` and publish them as a new version.

        Args:
            dataset_dir: a generated dataset.
            as_of: features use events strictly before this date; default the day after the dataset ends.
            label_window_days: label = redeemed within this many days after each training snapshot.
            progress: optional callback ``(message, fraction_done)``.

        Returns:
            The new version's ``VersionInfo``.

        Raises:
            NotFoundError: no dataset at ``dataset_dir``.
            InvalidInputError: ``as_of`` outside the dataset's period.
        """
        started = time.perf_counter()
        report = progress or (lambda message, fraction: None)
        dataset_dir = Path(dataset_dir)
        manifest = read_manifest(dataset_dir)
        start, end = (as_of_timestamp(manifest["period"][key]) for key in ("start_date", "end_date"))
        as_of_ts = as_of_timestamp(as_of) if as_of is not None else end
        if not start < as_of_ts <= end:
            raise InvalidInputError(
                f"as_of {as_of_ts:%Y-%m-%d} is outside the dataset period ({start:%Y-%m-%d}, {end:%Y-%m-%d}]"
            )
        if label_window_days < 1:
            raise InvalidInputError(f"label_window_days must be at least 1, got {label_window_days}")

        con = connect(dataset_dir)
        report("online features", 0.0)
        # The pair index holds every member's customer features too: the online table is read from it.
        index = build_pair_index(con, as_of_ts)
        online = pd.DataFrame(index.customer_features, columns=list(FEATURE_NAMES))
        online.insert(0, ENTITY_COLUMN, index.customer_ids)
        snapshots = snapshot_dates(dataset_dir, as_of_ts, label_window_days)
        training = None
        if snapshots:
            training = compute_pair_training_frame(
                con, snapshots, label_window_days, lambda m, f: report(m, 0.05 + 0.8 * f)
            )
        con.close()  # frees DuckDB's buffer cache (up to its memory limit) before the frames are written
        metadata = {
            "as_of": as_of_ts.date().isoformat(),
            "dataset_id": manifest["dataset_id"],
            "dataset_hash": manifest["content_hash"],
            "dataset_path": str(dataset_dir.resolve()),
            "label_window_days": label_window_days,
            "snapshots": [s.date().isoformat() for s in snapshots],
            "compute_seconds": round(time.perf_counter() - started, 2),
        }
        return self.publish(
            online,
            metadata,
            progress=lambda m, f: report(m, 0.85 + 0.15 * f),
            pairs=PairTables.from_index(index, training),
        )

    def publish(
        self,
        online: pd.DataFrame,
        metadata: dict,
        progress: ProgressCallback | None = None,
        pairs: PairTables | None = None,
    ) -> VersionInfo:
        """Validate and atomically publish a version (lower level than ``build``).

        Args:
            online: ``customer_id`` plus every feature in ``FEATURE_NAMES``, one row per customer.
            metadata: must contain ``as_of`` (ISO date); other keys (dataset_id, dataset_hash,
                label_window_days, ...) are stored as given.
            progress: optional callback ``(message, fraction_done)``.
            pairs: the offer-aware tables and the (customer, offer) training frame; without them the version
                serves customer lookups only.

        Raises:
            DataValidationError: a frame is missing columns, has duplicate ids or out-of-range values.
        """
        report = progress or (lambda message, fraction: None)
        if "as_of" not in metadata:
            raise InvalidInputError("metadata must contain 'as_of'")
        as_of = as_of_timestamp(metadata["as_of"]).date().isoformat()
        online = _normalise_online(online)
        tables = {ONLINE_TABLE: online, **(_normalise_pairs(pairs, online) if pairs is not None else {})}
        report("writing version", 0.1)
        metadata = {
            **metadata,
            "as_of": as_of,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "online_rows": len(online),
            "training_rows": 0 if tables.get(TRAINING_TABLE) is None else len(tables[TRAINING_TABLE]),
            "offers_rows": 0 if pairs is None else len(tables[OFFERS_TABLE]),
            "feature_names": list(FEATURE_NAMES),
            "schema": {column: str(dtype) for column, dtype in online.dtypes.items()},
            "schema_hash": schema_hash(),
            "feature_stats": _feature_stats(online),
        }
        version = self._commit(tables, metadata, report)
        report(f"published {version}", 1.0)
        return self.describe(version)

    def _commit(self, tables: dict[str, pd.DataFrame | None], metadata: dict, report: ProgressCallback) -> str:
        """Replace every table and name the version in one DuckLake transaction; retry with the next number
        if another writer committed first (DuckLake refuses the second of two conflicting commits).

        A table given as ``None`` (or not given) is dropped, so time travel to this version never finds an
        older version's frame."""
        for attempt in range(COMMIT_RETRIES):
            with self._lock:
                con = self._connection()
                number = len(self._list_versions(con)) + 1
                version = f"v{number:04d}"
                try:
                    con.execute("BEGIN")
                    for table in ALL_TABLES:
                        frame = tables.get(table)
                        if frame is None:
                            con.execute(f"DROP TABLE IF EXISTS {LAKE_ALIAS}.{table}")
                            continue
                        con.register(f"{table}_frame", frame)
                        con.execute(f"CREATE OR REPLACE TABLE {LAKE_ALIAS}.{table} AS SELECT * FROM {table}_frame")
                    con.execute(
                        f"CALL {LAKE_ALIAS}.set_commit_message(?, ?, extra_info => ?)",
                        [COMMIT_AUTHOR, COMMIT_PREFIX + version, json.dumps({"version": version, **metadata})],
                    )
                    report("committing", 0.9)  # every data file is written; only the catalog commit is left
                    con.execute("COMMIT")
                except duckdb.TransactionException:
                    self._rollback_quietly(con)
                    logger.info("publish of %s lost a commit race (attempt %d); retrying", version, attempt + 1)
                    continue
                except BaseException:
                    self._rollback_quietly(con)
                    raise
                finally:
                    for table in ALL_TABLES:
                        con.unregister(f"{table}_frame")
                self._listed_at = None
                return version
        raise LoyaltyLensError(f"could not publish a feature version after {COMMIT_RETRIES} commit conflicts")

    # --- reading metadata --------------------------------------------------------------------------
    def list_versions(self) -> list[VersionInfo]:
        """Every published version, oldest first (empty list for an empty store)."""
        return list(self._version_infos(refresh=True).values())

    def resolve(self, version: str = "latest") -> str:
        """The canonical name (``v0003``) of ``latest``, ``v3``, ``3`` or ``v0003``.

        Raises:
            NotFoundError: the store is empty.
            UnknownVersionError: no such version; the message lists the existing ones.
        """
        names = list(self._version_infos())
        match = _VERSION_NAME.match(str(version)) or re.match(r"^(\d+)$", str(version))
        name = f"v{int(match.group(1)):04d}" if match else str(version)
        if version != "latest" and name not in names:
            names = list(self._version_infos(refresh=True))  # published since the last listing?
        if not names:
            raise NotFoundError(f"feature store {self} has no versions yet; run `loyaltylens features build`")
        if version == "latest":
            return names[-1]
        if name not in names:
            raise UnknownVersionError(
                f"unknown feature version '{version}'; existing versions: {', '.join(names)} (or 'latest')"
            )
        return name

    def describe(self, version: str = "latest") -> VersionInfo:
        """Metadata of one version (``latest`` by default)."""
        return self._version_infos()[self.resolve(version)]

    def diff(self, a: str, b: str) -> VersionDiff:
        """Schema, row-count and per-feature distribution differences from version ``a`` to ``b``."""
        info_a, info_b = self.describe(a), self.describe(b)
        schema_a, schema_b = info_a.metadata["schema"], info_b.metadata["schema"]
        schema_changes = [f"added {c} ({schema_b[c]})" for c in schema_b if c not in schema_a]
        schema_changes += [f"removed {c}" for c in schema_a if c not in schema_b]
        schema_changes += [
            f"{c}: {schema_a[c]} -> {schema_b[c]}" for c in schema_a if c in schema_b and schema_a[c] != schema_b[c]
        ]
        if info_a.schema_hash != info_b.schema_hash:
            schema_changes.append(f"schema hash {info_a.schema_hash} -> {info_b.schema_hash}")
        context_changes = [
            f"{label}: {info_a.metadata.get(key)} -> {info_b.metadata.get(key)}"
            for key, label in (
                ("as_of", "as-of"),
                ("dataset_id", "dataset"),
                ("dataset_hash", "dataset hash"),
                ("label_window_days", "label window days"),
            )
            if info_a.metadata.get(key) != info_b.metadata.get(key)
        ]
        stats_a, stats_b = info_a.metadata["feature_stats"], info_b.metadata["feature_stats"]
        features = [
            FeatureDelta(
                name=name,
                **{stat: (stats_a[name][stat], stats_b[name][stat]) for stat in ("mean", "std", "null_share")},
            )
            for name in FEATURE_NAMES
            if name in stats_a and name in stats_b
        ]
        return VersionDiff(
            a=info_a.version,
            b=info_b.version,
            schema_changes=schema_changes,
            row_counts={
                "online": (info_a.online_rows, info_b.online_rows),
                "training": (info_a.training_rows, info_b.training_rows),
            },
            features=features,
            context_changes=context_changes,
        )

    # --- reading features --------------------------------------------------------------------------
    def get_features(self, customer_ids: Sequence[int], version: str = "latest") -> FeatureBatch:
        """ONLINE path: the feature rows of ``customer_ids`` from one version, in the given order.

        The version's online table is loaded once and kept in memory, so a lookup is a binary search.

        Raises:
            InvalidInputError: no ids, or ids that are not integers.
            UnknownCustomerError: ids not in the version (listed in the error).
            NotFoundError / UnknownVersionError: as ``resolve``.
        """
        ids = np.asarray(customer_ids)
        if ids.ndim != 1 or ids.size == 0 or ids.dtype.kind not in "iu":
            raise InvalidInputError(f"customer_ids must be a non-empty list of integers, got {customer_ids!r:.80}")
        ids = ids.astype(np.int64, copy=False)
        name = self.resolve(version)
        table = self._online_table(name)
        rows = np.minimum(np.searchsorted(table.ids, ids), len(table.ids) - 1)
        found = table.ids[rows] == ids
        if not found.all():
            raise UnknownCustomerError(sorted(set(ids[~found].tolist())), name)
        return FeatureBatch(
            customer_ids=ids,
            feature_names=FEATURE_NAMES,
            values=table.values[rows],
            version=name,
            as_of=table.as_of,
        )

    def get_pair_features(
        self, customer_ids: Sequence[int], offer_ids: Sequence[int], version: str = "latest"
    ) -> PairFeatureBatch:
        """ONLINE path of offer-aware models: the pair rows of ``zip(customer_ids, offer_ids)`` in one call.

        The version's pair index (online table + ``customer_category`` + ``offers``) is loaded once and
        cached like the online table, so a lookup is numpy indexing only.

        Raises:
            InvalidInputError: no pairs, ids that are not integers, or lists of different lengths.
            UnknownCustomerError: customer ids not in the version.
            NotFoundError: unknown offer ids, or a version published without the offer tables.
        """
        customers, offers = (np.asarray(ids) for ids in (customer_ids, offer_ids))
        for what, ids in (("customer_ids", customers), ("offer_ids", offers)):
            if ids.ndim != 1 or ids.size == 0 or ids.dtype.kind not in "iu":
                raise InvalidInputError(f"{what} must be a non-empty list of integers, got {ids.tolist()!r:.80}")
        if len(customers) != len(offers):
            raise InvalidInputError(
                f"customer_ids and offer_ids must pair up one to one, got {len(customers)} and {len(offers)}"
            )
        customers, offers = customers.astype(np.int64, copy=False), offers.astype(np.int64, copy=False)
        name = self.resolve(version)
        index = self._pair_index(name)
        # A binary search of the sorted ids: np.isin sorts every customer of the version on each call (0.5 ms at
        # 50k customers, for a candidate list of ten pairs).
        known = index.customer_ids
        unknown = known[np.minimum(np.searchsorted(known, customers), len(known) - 1)] != customers
        if unknown.any():
            raise UnknownCustomerError(sorted(set(customers[unknown].tolist())), name)
        return PairFeatureBatch(
            customer_ids=customers,
            offer_ids=offers,
            values=index.lookup(customers, offers),
            version=name,
            as_of=index.as_of.date().isoformat(),
        )

    def get_offers(self, version: str = "latest") -> pd.DataFrame:
        """The offers the version's pair features know (``OFFER_TABLE_DTYPES`` columns), by id."""
        info = self._pair_version(version)
        return self._read_table(OFFERS_TABLE, info).order(OFFER_COLUMN).df()

    def get_online_frame(self, version: str = "latest") -> pd.DataFrame:
        """The version's whole online table (``customer_id`` + features, categoricals as codes), by id."""
        return self._read_table(ONLINE_TABLE, self.describe(version)).order(ENTITY_COLUMN).df()

    def get_training_frame(self, version: str = "latest") -> pd.DataFrame:
        """OFFLINE path: one row per treated assignment at each campaign snapshot (``PAIR_TRAINING_COLUMNS``),
        the (customer, offer) pair's point-in-time features and whether that offer was redeemed in the window."""
        info = self.describe(version)
        if info.training_rows == 0:
            raise NotFoundError(
                f"feature version {info.version} has no training frame (published without one, or as-of "
                f"{info.as_of} leaves no campaign with a complete label window); build with a later --as-of"
            )
        frame = self._read_table(TRAINING_TABLE, info).df()
        return frame.sort_values([AS_OF_COLUMN, ASSIGNMENT_COLUMN], ignore_index=True)

    # --- internals ---------------------------------------------------------------------------------
    def _connection(self) -> duckdb.DuckDBPyConnection:
        """The store's DuckDB connection, opened on first use (callers hold ``_lock``)."""
        if self._con is None:
            self._con = open_lake(self.catalog, self.data_path, self.s3)
        return self._con

    @staticmethod
    def _rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # nothing was open

    def _list_versions(self, con: duckdb.DuckDBPyConnection) -> dict[str, VersionInfo]:
        """Published versions from the catalog's snapshot list, oldest first."""
        rows = con.execute(
            f"SELECT snapshot_id, commit_extra_info FROM {LAKE_ALIAS}.snapshots() "
            "WHERE commit_message LIKE ? ORDER BY snapshot_id",
            [COMMIT_PREFIX + "%"],
        ).fetchall()
        infos = (VersionInfo.from_metadata(int(sid), json.loads(extra)) for sid, extra in rows)
        return {info.version: info for info in infos}

    def _version_infos(self, refresh: bool = False) -> dict[str, VersionInfo]:
        """Versions as last listed; listed anew when ``refresh`` or older than ``refresh_seconds``."""
        with self._lock:
            stale = self._listed_at is None or time.monotonic() - self._listed_at > self.refresh_seconds
            if refresh or stale:
                self._versions = self._list_versions(self._connection())
                self._listed_at = time.monotonic()
            return self._versions

    def _read_table(self, table: str, info: VersionInfo) -> duckdb.DuckDBPyRelation:
        """``table`` as it was when ``info``'s version was published (DuckLake time travel)."""
        with self._lock:
            con = self._connection()
            return con.sql(f"SELECT * FROM {LAKE_ALIAS}.{table} AT (VERSION => {int(info.snapshot_id)})")

    def _online_table(self, name: str) -> _OnlineTable:
        """The version's online table from the LRU cache, loading it on first use."""
        return self._cached(self._online, name, self._load_online)

    def _pair_index(self, name: str) -> PairFeatureIndex:
        """The version's pair index from the LRU cache, loading it on first use."""
        return self._cached(self._pair_indexes, name, self._load_pair_index)

    def _cached(self, cache: OrderedDict, name: str, load):
        """``cache[name]``, loaded on first use. Loading holds the lock, so concurrent first lookups wait for
        one load instead of each reading the data files; the least recently used entries are evicted."""
        with self._lock:
            value = cache.get(name)
            if value is None:
                value = cache[name] = load(name)
                while len(cache) > self._online_cache_size:
                    cache.popitem(last=False)
            else:
                cache.move_to_end(name)
        return value

    def _pair_version(self, version: str) -> VersionInfo:
        info = self.describe(version)
        if not info.has_offer_tables:
            raise NotFoundError(
                f"feature version {info.version} was published without offer tables; (customer, offer) "
                "features need a version built from a dataset (loyaltylens features build)"
            )
        return info

    def _load_pair_index(self, name: str) -> PairFeatureIndex:
        started = time.perf_counter()
        info = self._pair_version(name)
        online = self._online_table(name)
        index = pair_index_from_tables(
            as_of=as_of_timestamp(info.as_of),
            customer_ids=online.ids,
            customer_features=online.values,
            customer_category=self._read_table(CUSTOMER_CATEGORY_TABLE, info).df(),
            offers=self._read_table(OFFERS_TABLE, info).df(),
        )
        logger.info("loaded pair index %s in %.2fs", name, time.perf_counter() - started)
        return index

    def _load_online(self, name: str) -> _OnlineTable:
        started = time.perf_counter()
        info = self._version_infos()[name]
        arrow = self._read_table(ONLINE_TABLE, info).order(ENTITY_COLUMN).fetch_arrow_table()
        values = np.empty((arrow.num_rows, len(FEATURE_NAMES)), dtype=np.float32)
        for j, feature in enumerate(FEATURE_NAMES):
            values[:, j] = arrow.column(feature).to_numpy()
        ids = arrow.column(ENTITY_COLUMN).to_numpy().astype(np.int64)
        logger.info("loaded online table %s (%d rows) in %.2fs", name, len(ids), time.perf_counter() - started)
        return _OnlineTable(ids=ids, values=values, as_of=info.as_of)


def schema_hash() -> str:
    """Hash of the feature schema (names, order, kinds, ranges, category codes and storage types).

    Two versions with the same hash can feed the same model.
    """
    schema = {
        "online_dtypes": ONLINE_DTYPES,
        "fields": [asdict(feature) for feature in FEATURES],
        "pair_fields": [asdict(feature) for feature in PAIR_FEATURES],
        "customer_category": CUSTOMER_CATEGORY_COLUMNS,
        "offers": OFFER_TABLE_DTYPES,
    }
    return "sha256:" + hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]


def _check_features(frame: pd.DataFrame, what: str) -> None:
    """Columns present, no missing/out-of-range values (the model contract's own rules)."""
    missing = [c for c in (ENTITY_COLUMN, *FEATURE_NAMES) if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{what}: missing column(s) {missing}")
    if frame[ENTITY_COLUMN].isna().any() or frame[ENTITY_COLUMN].dtype.kind not in "iu":
        raise DataValidationError(f"{what}.{ENTITY_COLUMN}: must be integers without nulls")
    if len(frame) == 0:
        return
    try:
        validate_matrix(FEATURES, frame[list(FEATURE_NAMES)].to_numpy(np.float32), what)
    except InvalidInputError as exc:
        raise DataValidationError(f"{what}: {exc}") from None


def _normalise_online(online: pd.DataFrame) -> pd.DataFrame:
    _check_features(online, "online")
    extra = [c for c in online.columns if c not in ONLINE_COLUMNS]
    if extra:
        raise DataValidationError(f"online: unexpected column(s) {extra}; expected {list(ONLINE_COLUMNS)}")
    if online[ENTITY_COLUMN].duplicated().any():
        duplicated = online.loc[online[ENTITY_COLUMN].duplicated(), ENTITY_COLUMN].head(5).tolist()
        raise DataValidationError(f"online.{ENTITY_COLUMN}: must be unique, duplicated e.g. {duplicated}")
    return online[list(ONLINE_COLUMNS)].astype(ONLINE_DTYPES).sort_values(ENTITY_COLUMN, ignore_index=True)


def _normalise_pairs(pairs: PairTables, online: pd.DataFrame) -> dict[str, pd.DataFrame | None]:
    """The offer-aware tables checked against the online table and the pair contract, in storage dtypes."""
    customer_category = pairs.customer_category.sort_values(ENTITY_COLUMN, ignore_index=True)
    if not np.array_equal(customer_category[ENTITY_COLUMN].to_numpy(np.int64), online[ENTITY_COLUMN].to_numpy()):
        raise DataValidationError("customer_category: must hold exactly the online table's customers")
    missing = [c for c in CUSTOMER_CATEGORY_COLUMNS if c not in customer_category.columns]
    if missing:
        raise DataValidationError(f"customer_category: missing column(s) {missing}")
    customer_category = customer_category[[ENTITY_COLUMN, *CUSTOMER_CATEGORY_COLUMNS]].astype(
        {ENTITY_COLUMN: "int64", **dict.fromkeys(CUSTOMER_CATEGORY_COLUMNS, "float32")}
    )
    training = pairs.training
    if training is not None:
        missing = [c for c in PAIR_TRAINING_COLUMNS if c not in training.columns]
        if missing:
            raise DataValidationError(f"training: missing column(s) {missing}")
        try:
            validate_matrix(PAIR_FEATURES, training[list(PAIR_FEATURE_NAMES)].to_numpy(np.float32), "training")
        except InvalidInputError as exc:
            raise DataValidationError(str(exc)) from None
        training = training[list(PAIR_TRAINING_COLUMNS)].astype(TRAINING_DTYPES)
    return {
        CUSTOMER_CATEGORY_TABLE: customer_category,
        OFFERS_TABLE: validate_offers(pairs.offers),
        TRAINING_TABLE: training,
    }


def _feature_stats(online: pd.DataFrame) -> dict[str, dict[str, float]]:
    stats = {}
    for name in FEATURE_NAMES:
        column = online[name].astype(np.float64)
        stats[name] = {
            "mean": float(column.mean()) if len(column) else 0.0,
            "std": float(column.std(ddof=0)) if len(column) else 0.0,
            "null_share": float(column.isna().mean()) if len(column) else 0.0,
        }
    return stats
