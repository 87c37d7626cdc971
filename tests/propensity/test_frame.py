"""Training-frame validation and the temporal split."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from loyaltylens.errors import DataValidationError, InvalidInputError
from loyaltylens.features.definitions import FEATURE_NAMES
from loyaltylens.propensity.frame import SplitConfig, feature_matrix, temporal_split


def test_split_is_temporal_and_keeps_only_treated_rows(frame: pd.DataFrame) -> None:
    split = temporal_split(frame)

    assert split.train["as_of"].max() < split.val["as_of"].min()
    assert split.val["as_of"].max() < split.test["as_of"].min()
    assert split.test["as_of"].nunique() == 1 and split.test["as_of"].iloc[0] == frame["as_of"].max()
    for part in split.parts().values():
        assert part["treated_in_window"].all()
    assert sum(map(len, split.parts().values())) == int(frame["treated_in_window"].sum())


def test_split_sizes_are_configurable(frame: pd.DataFrame) -> None:
    split = temporal_split(frame, SplitConfig(n_test_snapshots=2, n_val_snapshots=1))

    assert split.test["as_of"].nunique() == 2
    assert split.train["as_of"].nunique() == 2


def test_feature_matrix_is_float32_in_contract_order(frame: pd.DataFrame) -> None:
    matrix = feature_matrix(frame)

    assert matrix.dtype == "float32" and matrix.flags.c_contiguous
    assert matrix.shape == (len(frame), len(FEATURE_NAMES))
    assert matrix[0, 0] == pytest.approx(frame["recency_days"].iloc[0])


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda f: f.iloc[0:0], "empty"),
        (lambda f: f.drop(columns=["engagement_score"]), "missing column(s) ['engagement_score']"),
        (lambda f: f.assign(label=0), "single class"),
        (lambda f: f.assign(treated_in_window=0), "treated_in_window=1"),
        (lambda f: f.assign(label=f["label"] * 2), "only 0 and 1"),
        (lambda f: f.assign(segment=9), "unknown category code 9 for 'segment'"),
        (lambda f: f[f["as_of"] == f["as_of"].max()], "1 as-of snapshot"),
        (lambda f: f[f["customer_id"] < 60], "fewer than the minimum of 100"),
    ],
    ids=[
        "empty",
        "missing-column",
        "single-class",
        "untreated",
        "bad-label",
        "bad-category",
        "one-snapshot",
        "tiny",
    ],
)
def test_bad_frames_fail_with_a_clear_message(frame: pd.DataFrame, breakage, message: str) -> None:
    with pytest.raises(DataValidationError, match=re.escape(message)):
        temporal_split(breakage(frame))


def test_non_frame_input_is_rejected() -> None:
    with pytest.raises(DataValidationError, match="empty"):
        temporal_split(None)  # type: ignore[arg-type]


def test_invalid_split_config_is_rejected() -> None:
    with pytest.raises(InvalidInputError):
        SplitConfig(n_test_snapshots=0)
