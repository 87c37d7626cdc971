"""Prediction scores of a registered propensity model on a feature version: the input of score drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from loyaltylens.features.definitions import ENTITY_COLUMN, FEATURE_NAMES, OFFER_COLUMN
from loyaltylens.features.store import FeatureStore
from loyaltylens.monitoring.drift import Scorer
from loyaltylens.propensity.export import load_model_dir
from loyaltylens.propensity.scoring import score_frame

OFFERS_PER_CUSTOMER = 3  # random offers of the version's catalogue scored with each member (offer-aware model)


def model_scorer(model_dir: Path, offers_per_customer: int = OFFERS_PER_CUSTOMER, seed: int = 0) -> Scorer:
    """A ``Scorer`` for ``check_drift`` from an exported model directory.

    A customer model scores the version's online table (every member at its as-of). An offer-aware model
    scores every member paired with ``offers_per_customer`` offers drawn (seeded) from the version's own
    offer table, through the store's online pair lookup: the population it would score that day, catalogue
    changes included.
    """
    model_dir = Path(model_dir)
    _, contract = load_model_dir(model_dir)
    customer_model = set(contract.names) <= set(FEATURE_NAMES)

    def score(store: FeatureStore, version: str) -> np.ndarray:
        online = store.get_online_frame(version)
        if customer_model:
            return score_frame(model_dir, online)
        customers = np.repeat(online[ENTITY_COLUMN].to_numpy(np.int64), offers_per_customer)
        catalogue = store.get_offers(version)[OFFER_COLUMN].to_numpy(np.int64)
        offers = np.random.default_rng(seed).choice(catalogue, size=len(customers))
        return score_frame(model_dir, store.get_pair_features(customers, offers, version).values)

    return score
