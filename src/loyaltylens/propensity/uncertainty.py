"""How sure a metric is: cluster bootstrap confidence intervals, paired differences, the ECE noise floor.

One test snapshot gives an AUC with an interval of about ±0.007 and an ECE that a perfect model would
also show, so every comparison here carries its uncertainty:

- ``bootstrap_auc``: AUCs of several models on the same rows with percentile intervals, and the paired
  interval of every difference to a reference model. Rows are resampled by cluster (customer), since a
  customer's rows across campaigns are not independent; the bootstrap is the Poisson one (each cluster
  gets a Poisson(1) weight), so the same weights pair every model in a replicate.
- ``ece_noise_floor``: the ECE a perfectly calibrated model shows at this n, from labels drawn from
  the scores themselves; an ECE at or under it says nothing about miscalibration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from loyaltylens.propensity.metrics import expected_calibration_error

DEFAULT_REPLICATES = 300
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}

    def __str__(self) -> str:
        return f"{self.estimate:.4f} [{self.low:.4f}, {self.high:.4f}]"


@dataclass(frozen=True)
class AucComparison:
    """Each model's AUC and each model's paired AUC difference to ``reference``."""

    reference: str
    auc: dict[str, Interval]
    difference: dict[str, Interval]  # model - reference, for every other model


def bootstrap_auc(
    labels: np.ndarray,
    scores: Mapping[str, np.ndarray],
    clusters: np.ndarray,
    reference: str,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> AucComparison:
    """AUC of every model in ``scores`` and its paired difference to ``scores[reference]``, with intervals.

    Args:
        labels: 0/1 outcomes ``[N]``.
        scores: model name -> scores ``[N]`` on the same rows.
        clusters: ``[N]`` cluster id of each row (the customer); clusters are resampled, not rows.
        reference: the model every difference is taken against.
    """
    labels = np.asarray(labels, dtype=bool)
    _, cluster_index = np.unique(clusters, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = {name: np.empty(replicates) for name in scores}
    for r in range(replicates):
        weights = rng.poisson(1.0, cluster_index.max() + 1)[cluster_index]
        for name, score in scores.items():
            draws[name][r] = roc_auc_score(labels, score, sample_weight=weights)
    point = {name: float(roc_auc_score(labels, score)) for name, score in scores.items()}
    auc = {name: _interval(point[name], draws[name]) for name in scores}
    difference = {
        name: _interval(point[name] - point[reference], draws[name] - draws[reference])
        for name in scores
        if name != reference
    }
    return AucComparison(reference=reference, auc=auc, difference=difference)


def ece_noise_floor(scores: np.ndarray, simulations: int = 100, seed: int = 0) -> float:
    """Mean ECE of ``scores`` against labels drawn from ``scores`` themselves: what a perfectly
    calibrated model with these scores shows at this sample size."""
    scores = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    return float(
        np.mean([expected_calibration_error(rng.random(len(scores)) < scores, scores) for _ in range(simulations)])
    )


def _interval(estimate: float, draws: np.ndarray) -> Interval:
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high))
