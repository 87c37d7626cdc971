"""Planting events into a copy of a dataset, for point-in-time tests of the feature code."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from loyaltylens.data.schema import schema_of, table_relpath


def append_rows(dataset: Path, table: str, rows: dict) -> None:
    """Append ``rows`` (column -> values) to ``table`` of the dataset at ``dataset``."""
    path = dataset / table_relpath(table)
    extra = pa.Table.from_pydict(rows, schema=schema_of(table))
    pq.write_table(pa.concat_tables([pq.read_table(path), extra]), path)


def purchase(customer_id: int, ts: datetime, amount: float = 40.0, category: str = "baby") -> dict:
    """One transactions row without an offer."""
    return {
        "txn_id": [10**9 + int(ts.timestamp())],
        "customer_id": [customer_id],
        "ts": [ts],
        "amount": [amount],
        "category": [category],
        "channel": ["web"],
        "offer_id": [None],
    }
