"""The offline training frame as the propensity stage sees it: validation, temporal split, model matrix.

A training frame (``FeatureStore.get_training_frame``) has one row per customer and as-of snapshot:
``customer_id``, ``as_of``, the features in definition order (categoricals as integer codes), ``label`` and
``treated_in_window`` (never the hidden truth). Only treated rows carry a meaningful label, so
everything here works on those. Snapshots are split by time, never at random: the latest as-of dates
are the test set and the ones before them validation, so the model is always judged on a later period
than it learned from, as it will be in production.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loyaltylens.errors import DataValidationError, InvalidInputError
from loyaltylens.features.definitions import (
    AS_OF_COLUMN,
    ENTITY_COLUMN,
    FEATURE_NAMES,
    LABEL_COLUMN,
    TREATED_COLUMN,
)
from loyaltylens.propensity.contract import FeatureContract


@dataclass(frozen=True)
class SplitConfig:
    """How many of the latest as-of snapshots are held out, and the smallest usable split."""

    n_test_snapshots: int = 1
    n_val_snapshots: int = 1
    # Below this many treated rows AUC and calibration on a split are too noisy to act on.
    min_rows_per_split: int = 100

    def __post_init__(self) -> None:
        if self.n_test_snapshots < 1 or self.n_val_snapshots < 1:
            raise InvalidInputError("n_test_snapshots and n_val_snapshots must be at least 1")
        if self.min_rows_per_split < 1:
            raise InvalidInputError("min_rows_per_split must be at least 1")


@dataclass(frozen=True)
class TemporalSplit:
    """Treated rows split by as-of date: train < val < test."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def summary(self) -> dict[str, dict]:
        """Rows, positive rate and as-of range of each split (for logs and the model card)."""
        return {
            name: {
                "rows": len(part),
                "positive_rate": round(float(part[LABEL_COLUMN].mean()), 4),
                "as_of_min": str(pd.Timestamp(part[AS_OF_COLUMN].min()).date()),
                "as_of_max": str(pd.Timestamp(part[AS_OF_COLUMN].max()).date()),
                "snapshots": int(part[AS_OF_COLUMN].nunique()),
            }
            for name, part in self.parts().items()
        }


def validate_training_frame(frame: pd.DataFrame, contract: FeatureContract | None = None) -> pd.DataFrame:
    """Check ``frame`` can be trained on and return its treated rows.

    ``contract`` names the model's input columns: by default the (customer, offer) pair features when the
    frame's rows name an offer (``FeatureContract.for_frame``), else the customer features.

    Raises:
        DataValidationError: not a non-empty DataFrame, required columns missing, labels not 0/1,
            no treated rows, a single label class, or feature values outside the contract's ranges.
    """
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise DataValidationError("training frame is empty: no rows to train on")
    contract = contract or FeatureContract.for_frame(frame.columns)
    required = (ENTITY_COLUMN, AS_OF_COLUMN, *contract.names, LABEL_COLUMN, TREATED_COLUMN)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataValidationError(f"training frame is missing column(s) {missing}")
    labels = frame[LABEL_COLUMN]
    if labels.isna().any() or not labels.isin([0, 1]).all():
        raise DataValidationError(f"column '{LABEL_COLUMN}' must hold only 0 and 1")
    treated = frame[frame[TREATED_COLUMN].astype(bool)]
    if treated.empty:
        raise DataValidationError(f"no row has {TREATED_COLUMN}=1: labels are only meaningful where an offer was sent")
    classes = treated[LABEL_COLUMN].unique()
    if len(classes) < 2:
        raise DataValidationError(
            f"label has a single class ({int(classes[0])}) in all {len(treated)} treated rows; "
            "a classifier needs both redeemers and non-redeemers"
        )
    try:
        contract.validate_matrix(treated[list(contract.names)].to_numpy())
    except InvalidInputError as exc:
        raise DataValidationError(f"training frame has invalid feature values: {exc}") from None
    return treated


def temporal_split(
    frame: pd.DataFrame, config: SplitConfig = SplitConfig(), contract: FeatureContract | None = None
) -> TemporalSplit:
    """Validate ``frame`` and split its treated rows by as-of date (see :class:`SplitConfig`).

    Raises:
        DataValidationError: the frame is invalid (see :func:`validate_training_frame`), has too few
            snapshots for the requested split, or a split is too small or holds a single label class.
    """
    treated = validate_training_frame(frame, contract)
    dates = np.sort(treated[AS_OF_COLUMN].unique())
    n_held_out = config.n_test_snapshots + config.n_val_snapshots
    if len(dates) <= n_held_out:
        raise DataValidationError(
            f"training frame has {len(dates)} as-of snapshot(s) with treated rows; need more than "
            f"{n_held_out} ({config.n_val_snapshots} val + {config.n_test_snapshots} test + at least 1 train)"
        )
    test_dates = dates[-config.n_test_snapshots :]
    val_dates = dates[-n_held_out : -config.n_test_snapshots]
    as_of = treated[AS_OF_COLUMN]
    split = TemporalSplit(
        train=treated[as_of < val_dates[0]].reset_index(drop=True),
        val=treated[as_of.isin(val_dates)].reset_index(drop=True),
        test=treated[as_of.isin(test_dates)].reset_index(drop=True),
    )
    for name, part in split.parts().items():
        if len(part) < config.min_rows_per_split:
            raise DataValidationError(
                f"{name} split has {len(part)} treated rows, fewer than the minimum of {config.min_rows_per_split}"
            )
        if part[LABEL_COLUMN].nunique() < 2:
            raise DataValidationError(f"{name} split holds a single label class; AUC is undefined there")
    return split


def feature_matrix(frame: pd.DataFrame, names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
    """The model input: a C-contiguous float32 ``[N, F]`` matrix of the features ``names`` (contract order)."""
    return np.ascontiguousarray(frame[list(names)].to_numpy(dtype=np.float32))


def label_vector(frame: pd.DataFrame) -> np.ndarray:
    """The 0/1 labels as a float32 vector ``[N]``."""
    return frame[LABEL_COLUMN].to_numpy(dtype=np.float32)
