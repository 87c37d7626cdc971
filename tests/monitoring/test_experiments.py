"""Campaign effects (treated vs the random hold-out, CUPED) checked against the simulator's potential outcomes."""

import numpy as np
import pandas as pd
import pytest

from loyaltylens.errors import InvalidInputError
from loyaltylens.monitoring.experiments import (
    analyse_campaigns,
    coverage_against_truth,
    cuped_adjust,
    difference_in_means,
)


def test_campaign_effect_intervals_cover_the_truth_on_most_campaigns(undrifted) -> None:
    effects = analyse_campaigns(undrifted.dataset_dir)
    checked = coverage_against_truth(effects, undrifted.dataset_dir)
    assert checked["truth"].notna().all()
    share = checked.groupby("outcome")["covered"].mean()
    print(f"CI coverage of the true effect: {share.to_dict()} over {checked['campaign_id'].nunique()} campaigns")
    assert (share > 0.5).all(), checked[["campaign_id", "outcome", "low", "high", "truth"]]
    # CUPED on pre-period spend narrows every interval (spend before the send predicts spend after it).
    assert (checked["variance_reduction"] > 0).all()
    assert ((checked["high"] - checked["low"]) < (checked["raw_high"] - checked["raw_low"])).all()


def test_cuped_keeps_the_effect_and_shrinks_the_interval() -> None:
    rng = np.random.default_rng(3)
    pre = rng.gamma(2.0, 50.0, 4000)
    treated = rng.random(4000) < 0.5
    y = 0.8 * pre + rng.normal(0, 20, 4000) + 5.0 * treated  # true effect 5
    raw, cuped = difference_in_means(y, treated), difference_in_means(cuped_adjust(y, pre), treated)
    assert cuped.covers(5.0)
    assert cuped.std_error < 0.5 * raw.std_error


def test_an_arm_too_small_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="at least 2"):
        difference_in_means(np.arange(5.0), np.array([True, True, True, True, False]))


def test_truth_is_joined_per_campaign_and_outcome(undrifted) -> None:
    effects = analyse_campaigns(undrifted.dataset_dir)
    assert set(effects["outcome"]) == {"spend", "margin"}
    assert effects.groupby("campaign_id").size().eq(2).all()
    assert isinstance(coverage_against_truth(effects, undrifted.dataset_dir), pd.DataFrame)


def test_experiments_cli_writes_every_campaign(undrifted, isolated_settings, tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from loyaltylens.cli import app

    out = tmp_path / "effects.json"
    result = CliRunner().invoke(
        app, ["experiments", "effects", "--dataset", str(undrifted.dataset_dir), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert {(r["campaign_id"], r["outcome"]) for r in rows} == {
        (c, o) for c in {r["campaign_id"] for r in rows} for o in ("spend", "margin")
    }
    assert all(r["low"] <= r["estimate"] <= r["high"] for r in rows)
