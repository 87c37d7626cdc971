"""Off-policy evaluation of a deterministic policy from logged campaigns: IPS, self-normalised IPS and doubly
robust, each with a percentile bootstrap interval over logged rows.

Inputs per logged row: the reward observed, the logging probability of the action taken, whether the
evaluated policy takes that same action, and (for DR) a reward model's prediction for the logged action and
for the policy's action. The logs of a campaign randomise offers and the hold-out, so the logging
probability is known for every row and the estimators are unbiased (IPS, DR) or consistent (SNIPS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 500


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float


def ips_terms(reward: np.ndarray, logging_probability: np.ndarray, matches: np.ndarray) -> np.ndarray:
    """Per-row inverse-propensity terms: the reward weighted by 1{policy took the logged action} / p_log."""
    return np.where(matches, reward / logging_probability, 0.0)


def dr_terms(
    reward: np.ndarray,
    logging_probability: np.ndarray,
    matches: np.ndarray,
    predicted_logged: np.ndarray,
    predicted_policy: np.ndarray,
) -> np.ndarray:
    """Per-row doubly-robust terms: the model's value of the policy's action plus the IPS-weighted residual."""
    return predicted_policy + np.where(matches, (reward - predicted_logged) / logging_probability, 0.0)


def _weights(logging_probability: np.ndarray, matches: np.ndarray) -> np.ndarray:
    return np.where(matches, 1.0 / logging_probability, 0.0)


def bootstrap_interval(statistic, n: int, seed: int, samples: int) -> tuple[float, float]:
    """95% percentile interval of ``statistic(indices)`` over ``samples`` resamples of ``n`` rows with replacement."""
    rng = np.random.default_rng(seed)
    draws = [statistic(rng.integers(0, n, n)) for _ in range(samples)]
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def ips(
    reward: np.ndarray,
    logging_probability: np.ndarray,
    matches: np.ndarray,
    seed: int = 0,
    samples: int = BOOTSTRAP_SAMPLES,
) -> Estimate:
    """Inverse propensity scoring: the mean of :func:`ips_terms`."""
    terms = ips_terms(reward, logging_probability, matches)
    return Estimate(float(terms.mean()), *bootstrap_interval(lambda i: terms[i].mean(), len(terms), seed, samples))


def snips(
    reward: np.ndarray,
    logging_probability: np.ndarray,
    matches: np.ndarray,
    seed: int = 0,
    samples: int = BOOTSTRAP_SAMPLES,
) -> Estimate:
    """Self-normalised IPS: the IPS sum divided by the sum of the weights (lower variance, small bias)."""
    terms, weights = ips_terms(reward, logging_probability, matches), _weights(logging_probability, matches)

    def value(i: np.ndarray) -> float:
        total = weights[i].sum()
        return float(terms[i].sum() / total) if total > 0 else 0.0

    return Estimate(value(np.arange(len(terms))), *bootstrap_interval(value, len(terms), seed, samples))


def doubly_robust(
    reward: np.ndarray,
    logging_probability: np.ndarray,
    matches: np.ndarray,
    predicted_logged: np.ndarray,
    predicted_policy: np.ndarray,
    seed: int = 0,
    samples: int = BOOTSTRAP_SAMPLES,
) -> Estimate:
    """Doubly robust: unbiased when either the logging probabilities or the reward model are right."""
    terms = dr_terms(reward, logging_probability, matches, predicted_logged, predicted_policy)
    return Estimate(float(terms.mean()), *bootstrap_interval(lambda i: terms[i].mean(), len(terms), seed, samples))


def paired_mean_difference(
    terms_a: np.ndarray, terms_b: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES
) -> Estimate:
    """Mean of ``terms_a - terms_b`` (per-row estimator terms of two policies on the same logs), paired CI."""
    difference = terms_a - terms_b
    return Estimate(
        float(difference.mean()), *bootstrap_interval(lambda i: difference[i].mean(), len(difference), seed, samples)
    )


def snips_difference(
    terms: tuple[np.ndarray, np.ndarray],
    weights: tuple[np.ndarray, np.ndarray],
    seed: int = 0,
    samples: int = BOOTSTRAP_SAMPLES,
) -> Estimate:
    """SNIPS value of policy a minus policy b from their IPS terms and weights on the same logs, paired CI."""

    def value(i: np.ndarray) -> float:
        return float(
            sum(sign * t[i].sum() / max(w[i].sum(), 1e-12) for sign, t, w in zip((1, -1), terms, weights, strict=True))
        )

    return Estimate(value(np.arange(len(terms[0]))), *bootstrap_interval(value, len(terms[0]), seed, samples))
