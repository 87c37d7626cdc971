"""Rolling-origin evaluation: retrain at several origins and score the campaign after each.

For each of the last ``n_folds`` snapshots of a training frame (the test campaigns), every model is
trained on the snapshots before the one preceding it, early-stopped and calibrated on that preceding
snapshot (validation), and scored on the test snapshot. Selection (early stopping, the registration
gate) sees validation only; test scores are reported, never selected on. The TabTransformer and the
baselines share each fold's split and matrix, so their scores are paired row by row.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loyaltylens.errors import DataValidationError
from loyaltylens.features.definitions import AS_OF_COLUMN
from loyaltylens.propensity.baseline import Baseline, train_baselines
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.frame import SplitConfig, TemporalSplit, feature_matrix
from loyaltylens.propensity.scoring import score_frame
from loyaltylens.propensity.train import TrainConfig, TrainResult, train_propensity

TABTRANSFORMER = "tabtransformer"


@dataclass
class Fold:
    """One origin: its split, the trained TabTransformer, and every model's validation and test scores."""

    test_as_of: pd.Timestamp
    split: TemporalSplit
    transformer: TrainResult
    baselines: dict[str, Baseline]
    val_scores: dict[str, np.ndarray]
    test_scores: dict[str, np.ndarray]


def rolling_origin(
    frame: pd.DataFrame, contract: FeatureContract, config: TrainConfig | None = None, n_folds: int = 3
) -> list[Fold]:
    """Train and score every model at each of the last ``n_folds`` as-of snapshots of ``frame``.

    Raises:
        DataValidationError: ``frame`` has too few snapshots for ``n_folds`` test campaigns, one validation
            snapshot and at least one training snapshot before them.
    """
    dates = np.sort(frame[AS_OF_COLUMN].unique())
    if len(dates) < n_folds + 2:
        raise DataValidationError(
            f"rolling origin over {n_folds} test campaigns needs at least {n_folds + 2} snapshots, got {len(dates)}"
        )
    config = config or TrainConfig()
    fold_config = dataclasses.replace(config, split=SplitConfig(n_test_snapshots=1, n_val_snapshots=1))
    folds = []
    for test_as_of in dates[-n_folds:]:
        result = train_propensity(frame[frame[AS_OF_COLUMN] <= test_as_of], fold_config, contract=contract)
        baselines = train_baselines(result.split, contract, seed=config.seed)
        scores: dict[str, dict[str, np.ndarray]] = {"val": {}, "test": {}}
        for part_name in scores:
            matrix = feature_matrix(getattr(result.split, part_name), contract.names)
            scores[part_name][TABTRANSFORMER] = score_frame(result.model, matrix)
            for name, baseline in baselines.items():
                scores[part_name][name] = baseline.predict(matrix)
        folds.append(Fold(pd.Timestamp(test_as_of), result.split, result, baselines, scores["val"], scores["test"]))
    return folds
