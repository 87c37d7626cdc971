"""Rolling-origin evaluation: retrain at several origins and score the campaign after each.

For each of the last ``n_folds`` snapshots of a training frame (the test campaigns), every model is
trained on the snapshots before the one preceding it, early-stopped and calibrated on that preceding
snapshot (validation), and scored on the test snapshot. Selection (early stopping, the registration
gate) sees validation only; test scores are reported, never selected on. The TabTransformer and the
baselines share each fold's split and matrix, so their scores are paired row by row.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from loyaltylens.errors import DataValidationError
from loyaltylens.features.definitions import AS_OF_COLUMN, ENTITY_COLUMN, LABEL_COLUMN, OFFER_COLUMN
from loyaltylens.features.pairs import ASSIGNMENT_COLUMN
from loyaltylens.propensity.baseline import Baseline, train_baselines
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.frame import SplitConfig, TemporalSplit, feature_matrix, label_vector
from loyaltylens.propensity.scoring import score_frame
from loyaltylens.propensity.train import TrainConfig, TrainResult, train_propensity

TABTRANSFORMER = "tabtransformer"
ROLLING_EVALUATION_RUN = "rolling-origin evaluation"  # MLflow run name and kind of a logged backtest
ACTIVE_FEATURE = "frequency_30d"  # > 0: a purchase in the last 30 days, the customers a model has most to go on


@dataclass
class Fold:
    """One origin: its split, the trained TabTransformer, and every model's validation and test scores."""

    test_as_of: pd.Timestamp
    split: TemporalSplit
    transformer: TrainResult
    baselines: dict[str, Baseline]
    val_scores: dict[str, np.ndarray]
    test_scores: dict[str, np.ndarray]


def origin_dates(frame: pd.DataFrame, n_folds: int) -> list[pd.Timestamp]:
    """The test as-of of each of the ``n_folds`` origins: the last ``n_folds`` snapshots of ``frame``.

    Raises:
        DataValidationError: ``frame`` has too few snapshots for ``n_folds`` test campaigns, one validation
            snapshot and at least one training snapshot before them.
    """
    dates = np.sort(frame[AS_OF_COLUMN].unique())
    if len(dates) < n_folds + 2:
        raise DataValidationError(
            f"rolling origin over {n_folds} test campaigns needs at least {n_folds + 2} snapshots, got {len(dates)}"
        )
    return [pd.Timestamp(d) for d in dates[-n_folds:]]


def train_origin(
    frame: pd.DataFrame, test_as_of: pd.Timestamp, contract: FeatureContract, config: TrainConfig | None = None
) -> Fold:
    """Train every model on the snapshots before the one preceding ``test_as_of`` (validation) and score
    validation and the ``test_as_of`` snapshot."""
    config = config or TrainConfig()
    fold_config = dataclasses.replace(config, split=SplitConfig(n_test_snapshots=1, n_val_snapshots=1))
    result = train_propensity(frame[frame[AS_OF_COLUMN] <= test_as_of], fold_config, contract=contract)
    baselines = train_baselines(result.split, contract, seed=config.seed)
    scores: dict[str, dict[str, np.ndarray]] = {"val": {}, "test": {}}
    for part_name in scores:
        matrix = feature_matrix(getattr(result.split, part_name), contract.names)
        scores[part_name][TABTRANSFORMER] = score_frame(result.model, matrix)
        for name, baseline in baselines.items():
            scores[part_name][name] = baseline.predict(matrix)
    return Fold(pd.Timestamp(test_as_of), result.split, result, baselines, scores["val"], scores["test"])


def rolling_origin(
    frame: pd.DataFrame, contract: FeatureContract, config: TrainConfig | None = None, n_folds: int = 3
) -> list[Fold]:
    """Train and score every model at each of the last ``n_folds`` as-of snapshots of ``frame``.

    Raises:
        DataValidationError: too few snapshots (see :func:`origin_dates`).
    """
    return [train_origin(frame, test_as_of, contract, config) for test_as_of in origin_dates(frame, n_folds)]


@dataclass(frozen=True)
class FoldScores:
    """What one origin hands to the evaluation: its test rows scored by every model, and each model's
    validation AUC (the only thing the best baseline is chosen on)."""

    test: pd.DataFrame  # row keys, label, one score column per model
    val_auc: dict[str, float]

    @classmethod
    def from_fold(cls, fold: Fold) -> FoldScores:
        kept = (ASSIGNMENT_COLUMN, ENTITY_COLUMN, OFFER_COLUMN, AS_OF_COLUMN, ACTIVE_FEATURE)
        keys = [c for c in kept if c in fold.split.test]
        test = fold.split.test[[*keys, LABEL_COLUMN]].assign(**fold.test_scores).reset_index(drop=True)
        val_labels = label_vector(fold.split.val)
        return cls(test, {name: float(roc_auc_score(val_labels, s)) for name, s in fold.val_scores.items()})

    @property
    def models(self) -> list[str]:
        return list(self.val_auc)

    def save(self, directory: Path) -> None:
        """``test.parquet`` and ``val_auc.json`` in ``directory`` (a pipeline artifact)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.test.to_parquet(directory / "test.parquet", index=False)
        (directory / "val_auc.json").write_text(json.dumps(self.val_auc, indent=2))

    @classmethod
    def load(cls, directory: Path) -> FoldScores:
        return cls(pd.read_parquet(directory / "test.parquet"), json.loads((directory / "val_auc.json").read_text()))
