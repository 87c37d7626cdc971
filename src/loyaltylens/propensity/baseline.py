"""Baselines the TabTransformer has to beat, trained on exactly the same temporal split and matrix.

- ``logistic_regression``: one-hot categoricals, log1p + standardised numerics (the same numeric
  transform the transformer uses), L2 logistic regression. Well calibrated by construction.
- ``lightgbm``: gradient-boosted trees with native categorical splits; the usual strong tabular baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.frame import TemporalSplit, feature_matrix, label_vector


@dataclass
class Baseline:
    """A fitted baseline and its name; ``predict`` returns P(redeem) ``[N]`` for a contract-ordered matrix."""

    name: str
    estimator: Pipeline | LGBMClassifier

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(matrix)[:, 1]


def make_logistic_regression(contract: FeatureContract, seed: int = 42) -> Pipeline:
    """Unfitted pipeline: one-hot(categoricals) + standardise(log1p(numerics)) -> logistic regression."""
    categorical = [f for f in contract.fields if f.is_categorical]
    encode = ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(FunctionTransformer(np.log1p), StandardScaler()),
                contract.numeric_index,
            ),
            (
                "categorical",
                # Codes are fixed by the contract, so every category gets a column even if unseen in train.
                OneHotEncoder(categories=[list(range(len(f.categories or ()))) for f in categorical]),
                contract.categorical_index,
            ),
        ]
    )
    return make_pipeline(encode, LogisticRegression(C=1.0, max_iter=2000, random_state=seed))


def make_lightgbm(contract: FeatureContract, seed: int = 42) -> LGBMClassifier:
    """Unfitted LightGBM; ``fit_params`` gives it the contract's categorical columns to split natively."""
    return LGBMClassifier(
        n_estimators=300,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=50,
        reg_lambda=1.0,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=2,
        verbose=-1,
    )


def fit_params(name: str, contract: FeatureContract) -> dict:
    """Keyword arguments of baseline ``name``'s ``fit``."""
    return {"categorical_feature": contract.categorical_index} if name == "lightgbm" else {}


def train_baselines(split: TemporalSplit, contract: FeatureContract, seed: int = 42) -> dict[str, Baseline]:
    """Fit every baseline on ``split.train``; returned by name in :data:`BASELINE_NAMES` order."""
    x_train, y_train = feature_matrix(split.train, contract.names), label_vector(split.train)
    return {
        name: Baseline(name, make(contract, seed).fit(x_train, y_train, **fit_params(name, contract)))
        for name, make in _FACTORIES.items()
    }


_FACTORIES = {
    "logistic_regression": make_logistic_regression,
    "lightgbm": make_lightgbm,
}
BASELINE_NAMES: tuple[str, ...] = tuple(_FACTORIES)
