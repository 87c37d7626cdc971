"""The simulator's drifted periods, from `loyaltylens data generate --drift`: what each rewrites and what it keeps."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loyaltylens.cli import app
from loyaltylens.data.drift import DriftScenario
from loyaltylens.data.io import load_table
from loyaltylens.errors import InvalidInputError
from tests.monitoring.conftest import CONFIG


def test_timezone_bug_records_every_purchase_of_the_period_one_day_early(undrifted, isolated_settings, tmp_path):
    out = tmp_path / "tz"
    args = ["data", "generate", "--customers", str(CONFIG.n_customers), "--days", str(CONFIG.n_days)]
    result = CliRunner().invoke(app, [*args, "--drift", "timezone_bug", "--out", str(out)])
    assert result.exit_code == 0, result.output
    drift = json.loads((out / "manifest.json").read_text())["drift"]
    start = pd.Timestamp(drift["start_date"])

    key = ["customer_id", "amount", "category", "channel"]
    before, after = load_table(undrifted.dataset_dir, "transactions"), load_table(out, "transactions")
    assert len(before) == len(after)  # behaviour unchanged: same purchases, some recorded a day early
    merged = before.sort_values([*key, "ts"]).reset_index(drop=True)
    shifted = after.sort_values([*key, "ts"]).reset_index(drop=True)
    moved = (merged["ts"] - shifted["ts"]).dt.total_seconds() / 86_400
    in_period = (merged["ts"] >= start + pd.Timedelta(days=1)) & merged["offer_id"].isna()
    assert set(moved[~in_period].round(6)) <= {0.0, 1.0}  # the first drifted day may move too, nothing before it
    assert (moved[in_period] == 1.0).mean() > 0.99  # a customer who joined that day keeps the time
    assert (moved[merged["ts"] < start] == 0).all()


def test_segment_shift_drops_only_the_segments_purchases_in_the_period(undrifted, tmp_path: Path) -> None:
    from loyaltylens.data.generator import generate_dataset

    generate_dataset(CONFIG, tmp_path / "seg", drift=DriftScenario("segment_shift"))
    customers = load_table(undrifted.dataset_dir, "customers").set_index("customer_id")["segment"]
    before, after = load_table(undrifted.dataset_dir, "transactions"), load_table(tmp_path / "seg", "transactions")
    count = {name: t.assign(segment=t["customer_id"].map(customers)).groupby("segment").size()
             for name, t in (("before", before), ("after", after))}  # fmt: skip
    assert count["after"]["budget"] < 0.9 * count["before"]["budget"]
    others = count["before"].index.drop("budget")
    assert (count["after"][others] == count["before"][others]).all()


def test_bad_scenarios_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="at least 1"):
        DriftScenario("promotion", days=0)
    with pytest.raises(ValueError):
        DriftScenario("heatwave")
