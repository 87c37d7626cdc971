"""Drifted periods for drift-monitoring demonstrations: the world (or its recording) changes late in the period.

A scenario rewrites the **observed** ``transactions`` of the last ``days`` days of a freshly simulated dataset,
before its manifest is written (``generate_dataset(..., drift=scenario)``):

- ``promotion``: a promotion season. Baskets grow by ``strength`` (default 1.0: they double) and that
  share of purchases is repeated a few hours later (extra trips; all of them by default).
- ``segment_shift``: the customer mix moves: the ``budget`` segment's members buy ``strength`` (default 90 %)
  less, so the spend, frequency and recency of that part of the base shift.
- ``timezone_bug``: a logging bug records every purchase one day early (local time stamped as the previous
  day): behaviour is unchanged, recency-type features move by a day.

Offer redemptions (rows with an ``offer_id``) are left as they are, so offer events still match their
purchases. The truth sidecar keeps describing the simulated behaviour, not the rewrite: evaluate campaign
effects on an undrifted dataset. The manifest's ``drift`` block records the scenario.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loyaltylens.data.io import content_hash
from loyaltylens.data.schema import TABLE_SCHEMAS, table_relpath
from loyaltylens.errors import InvalidInputError

DEFAULT_DRIFT_DAYS = 42  # six weeks, three campaign cycles: a season, and half of a 90-day feature window
SHIFTED_SEGMENT = "budget"  # the largest segment goes to a discounter
EXTRA_TRIP_DELAY = pd.Timedelta(hours=3)


class DriftKind(StrEnum):
    PROMOTION = "promotion"
    SEGMENT_SHIFT = "segment_shift"
    TIMEZONE_BUG = "timezone_bug"


DEFAULT_STRENGTH = {DriftKind.PROMOTION: 1.0, DriftKind.SEGMENT_SHIFT: 0.9, DriftKind.TIMEZONE_BUG: 1.0}


@dataclass(frozen=True)
class DriftScenario:
    """One drifted period: ``kind`` over the last ``days`` days, with ``strength`` (see the module docstring;
    for the timezone bug, the shift in days)."""

    kind: DriftKind
    days: int = DEFAULT_DRIFT_DAYS
    strength: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", DriftKind(self.kind))
        if self.days < 1:
            raise InvalidInputError(f"drift days must be at least 1, got {self.days}")
        if self.strength is not None and not 0.0 < self.strength <= (30 if self.kind is DriftKind.TIMEZONE_BUG else 1):
            raise InvalidInputError(f"drift strength {self.strength} is out of range for {self.kind}")

    @property
    def effective_strength(self) -> float:
        return DEFAULT_STRENGTH[self.kind] if self.strength is None else self.strength

    @property
    def suffix(self) -> str:
        """Appended to the dataset id, so a drifted dataset never shares a name with an undrifted one."""
        return f"drift-{self.kind.value}-{self.days}d"

    def rewrite(self, dataset_dir: Path, manifest: dict) -> None:
        """Rewrite the transactions of the dataset being written at ``dataset_dir`` and update its ``manifest``
        (a ``drift`` block, the dataset id, the transactions row count and the content hash)."""
        start_date, n_days = manifest["config"]["start_date"], manifest["config"]["n_days"]
        if self.days >= n_days:
            raise InvalidInputError(f"drift days ({self.days}) must be fewer than the period's {n_days} days")
        drift_start = pd.Timestamp(start_date) + pd.Timedelta(days=n_days - self.days)
        path = Path(dataset_dir) / table_relpath("transactions")
        transactions = pq.read_table(path).to_pandas()
        customers = pq.read_table(Path(dataset_dir) / table_relpath("customers")).to_pandas()
        before = len(transactions)
        rewritten = _REWRITES[self.kind](self, transactions, customers, drift_start)
        rewritten = rewritten.sort_values(["ts", "customer_id"], kind="stable", ignore_index=True)
        rewritten["txn_id"] = np.arange(1, len(rewritten) + 1, dtype=np.int64)
        pq.write_table(
            pa.Table.from_pandas(rewritten, schema=TABLE_SCHEMAS["transactions"], preserve_index=False), path
        )
        manifest["drift"] = {
            **asdict(self),
            "kind": self.kind.value,
            "strength": self.effective_strength,
            "start_date": drift_start.date().isoformat(),
            "transactions_before": before,
        }
        manifest["dataset_id"] = f"{manifest['dataset_id']}-{self.suffix}"
        manifest["row_counts"]["transactions"] = len(rewritten)
        manifest["content_hash"] = content_hash(dataset_dir)


def _in_period(transactions: pd.DataFrame, drift_start: pd.Timestamp) -> pd.Series:
    """Baseline purchases (no offer) in the drifted period: the rows a scenario may touch."""
    return (transactions["ts"] >= drift_start) & transactions["offer_id"].isna()


def _promotion(s: DriftScenario, transactions: pd.DataFrame, _: pd.DataFrame, drift_start: pd.Timestamp):
    rng = np.random.default_rng(s.seed)
    touched = _in_period(transactions, drift_start)
    transactions.loc[touched, "amount"] = (transactions.loc[touched, "amount"] * (1 + s.effective_strength)).round(2)
    repeat = transactions[touched & (rng.random(len(transactions)) < s.effective_strength)].copy()
    repeat["ts"] = repeat["ts"] + EXTRA_TRIP_DELAY
    end = transactions["ts"].max()
    return pd.concat([transactions, repeat[repeat["ts"] <= end]], ignore_index=True)


def _segment_shift(s: DriftScenario, transactions: pd.DataFrame, customers: pd.DataFrame, drift_start: pd.Timestamp):
    rng = np.random.default_rng(s.seed)
    shifted = customers.loc[customers["segment"] == SHIFTED_SEGMENT, "customer_id"]
    dropped = (
        _in_period(transactions, drift_start)
        & transactions["customer_id"].isin(shifted)
        & (rng.random(len(transactions)) < s.effective_strength)
    )
    return transactions[~dropped]


def _timezone_bug(s: DriftScenario, transactions: pd.DataFrame, customers: pd.DataFrame, drift_start: pd.Timestamp):
    shifted_ts = transactions["ts"] - pd.Timedelta(days=s.effective_strength)
    signup = transactions["customer_id"].map(customers.set_index("customer_id")["signup_date"])
    # A purchase is never recorded before its customer joined (or before the bug shipped): those keep their time.
    touched = (
        _in_period(transactions, drift_start) & (shifted_ts >= pd.to_datetime(signup)) & (shifted_ts >= drift_start)
    )
    transactions.loc[touched, "ts"] = shifted_ts[touched]
    return transactions


_REWRITES = {
    DriftKind.PROMOTION: _promotion,
    DriftKind.SEGMENT_SHIFT: _segment_shift,
    DriftKind.TIMEZONE_BUG: _timezone_bug,
}
