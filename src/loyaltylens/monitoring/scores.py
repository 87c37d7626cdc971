"""Prediction scores of a registered propensity model on a feature version: the input of score drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from loyaltylens.features.definitions import AS_OF_COLUMN, FEATURE_NAMES
from loyaltylens.features.store import FeatureStore
from loyaltylens.monitoring.drift import Scorer
from loyaltylens.propensity.export import load_model_dir
from loyaltylens.propensity.scoring import score_frame


def model_scorer(model_dir: Path) -> Scorer:
    """A ``Scorer`` for ``check_drift`` from an exported model directory.

    A customer model scores the version's online table (every member at its as-of); an offer-aware model
    scores the (customer, offer) pairs sent at the version's newest campaign snapshot, the rows it was
    trained and is served on.
    """
    _, contract = load_model_dir(Path(model_dir))
    customer_model = set(contract.names) <= set(FEATURE_NAMES)

    def score(store: FeatureStore, version: str) -> np.ndarray:
        if customer_model:
            return score_frame(model_dir, store.get_online_frame(version))
        pairs = store.get_training_frame(version)
        return score_frame(model_dir, pairs[pairs[AS_OF_COLUMN] == pairs[AS_OF_COLUMN].max()])

    return score
