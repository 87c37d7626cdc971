"""validate_dataset passes a generated dataset and names the table, column and rule a planted error breaks."""

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from loyaltylens.data import validate_dataset
from loyaltylens.data.schema import table_relpath
from loyaltylens.errors import DataValidationError, NotFoundError


@pytest.fixture
def dataset_copy(small_dataset: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(small_dataset, tmp_path / "copy"))


def _rewrite(dataset: Path, table: str, change) -> None:
    path = dataset / table_relpath(table)
    pq.write_table(change(pq.read_table(path)), path)


def test_generated_dataset_is_valid(small_dataset: Path) -> None:
    report = validate_dataset(small_dataset)
    assert report.row_counts["customers"] == 3_000
    assert any("transactions.amount" in check for check in report.checks)
    assert "valid" in report.to_markdown()


def test_negative_amount_is_reported_with_table_column_and_rule(dataset_copy: Path) -> None:
    def negate_first_amount(table: pa.Table) -> pa.Table:
        amounts = table.column("amount").to_numpy().copy()
        amounts[0] = -amounts[0]
        return table.set_column(table.schema.get_field_index("amount"), "amount", pa.array(amounts))

    _rewrite(dataset_copy, "transactions", negate_first_amount)
    with pytest.raises(DataValidationError, match=r"transactions\.amount: must be > 0 \(1 rows\)") as error:
        validate_dataset(dataset_copy)
    assert "manifest.content_hash" in str(error.value)  # the edit is also caught as tampering


def test_events_for_a_held_out_assignment_are_reported(dataset_copy: Path) -> None:
    def hold_out_everyone(table: pa.Table) -> pa.Table:
        return table.set_column(
            table.schema.get_field_index("treated"), "treated", pc.and_(table.column("treated"), False)
        )

    _rewrite(dataset_copy, "campaigns", hold_out_everyone)
    with pytest.raises(DataValidationError, match=r"offer_events\.assignment_id: must belong to a treated"):
        validate_dataset(dataset_copy)


def test_missing_column_is_reported(dataset_copy: Path) -> None:
    _rewrite(dataset_copy, "offers", lambda table: table.drop_columns(["text"]))
    with pytest.raises(DataValidationError, match=r"offers\.text: column is missing"):
        validate_dataset(dataset_copy)


def test_missing_dataset_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="loyaltylens data generate"):
        validate_dataset(tmp_path)
