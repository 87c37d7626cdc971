"""Baselines the TabTransformer has to beat, trained on exactly the same temporal split and matrix.

- ``logistic_regression``: one-hot categoricals, log1p + standardised numerics (the same numeric
  transform the transformer uses), L2 logistic regression. Well calibrated by construction.
- ``hist_gradient_boosting``: scikit-learn's histogram GBM with native categorical splits; the usual
  strong tabular baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.frame import TemporalSplit, feature_matrix, label_vector


@dataclass
class Baseline:
    """A fitted baseline and its name; ``predict`` returns P(redeem) ``[N]`` for a contract-ordered matrix."""

    name: str
    estimator: Pipeline | HistGradientBoostingClassifier

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


def make_hist_gradient_boosting(contract: FeatureContract, seed: int = 42) -> HistGradientBoostingClassifier:
    """Unfitted GBM with the contract's categorical columns split natively and internal early stopping."""
    is_categorical = [f.is_categorical for f in contract.fields]
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=500,
        categorical_features=is_categorical,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
    )


def train_baselines(split: TemporalSplit, contract: FeatureContract, seed: int = 42) -> dict[str, Baseline]:
    """Fit every baseline on ``split.train``; returned by name in :data:`BASELINE_NAMES` order."""
    x_train, y_train = feature_matrix(split.train), label_vector(split.train)
    return {
        name: Baseline(name, make(contract, seed).fit(x_train, y_train)) for name, make in _FACTORIES.items()
    }


_FACTORIES = {
    "logistic_regression": make_logistic_regression,
    "hist_gradient_boosting": make_hist_gradient_boosting,
}
BASELINE_NAMES: tuple[str, ...] = tuple(_FACTORIES)
