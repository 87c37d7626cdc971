"""Population stability index (PSI): how far a feature's distribution moved from a reference sample.

    PSI = sum_i (c_i - r_i) * ln(c_i / r_i)

over bins ``i``, with ``r_i`` / ``c_i`` the reference / current share of rows in bin ``i``.

Bins are fixed by the **reference** alone, so the same reference always yields the same bins:

- numeric features: the reference's deciles (``bins`` quantiles) as right-closed edges
  ``(-inf, e_1], (e_1, e_2], ..., (e_k, inf)``; repeated edges collapse, so a feature that is 0 for 60 % of
  the reference gets one bin for all its zeros instead of six empty ones, and the outer bins catch
  current values beyond the reference's range;
- categorical features (stored as integer codes): one bin per code seen in either sample.

A bin empty in one sample would make ``ln`` infinite, so every share is floored at ``epsilon`` (1e-4 by
default: one row in 10,000) before the sum. That caps one empty bin's contribution at about
``share * ln(share / epsilon)`` (0.1 * ln(1000) ~ 0.69 for a decile bin that emptied) rather than infinity.

Reading it (the industry rule of thumb the monitoring uses): < 0.1 stable, 0.1-0.2 minor shift, > 0.2 major.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from loyaltylens.errors import InvalidInputError

DEFAULT_BINS = 10
DEFAULT_EPSILON = 1e-4


class DriftLevel(StrEnum):
    STABLE = "stable"
    MINOR = "minor"
    MAJOR = "major"


def drift_level(psi: float, minor: float = 0.1, major: float = 0.2) -> DriftLevel:
    """``stable`` below ``minor``, ``major`` above ``major``, ``minor`` in between (both ends included)."""
    if psi < minor:
        return DriftLevel.STABLE
    return DriftLevel.MAJOR if psi > major else DriftLevel.MINOR


def quantile_edges(reference: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Inner bin edges of ``reference``: its ``1/bins .. (bins-1)/bins`` quantiles, repeated ones collapsed."""
    if bins < 2:
        raise InvalidInputError(f"bins must be at least 2, got {bins}")
    return np.unique(np.quantile(reference, np.arange(1, bins) / bins))


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each right-closed bin of ``edges`` (``len(edges) + 1`` bins)."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return counts / len(values)


def psi_from_shares(reference: np.ndarray, current: np.ndarray, epsilon: float = DEFAULT_EPSILON) -> float:
    """PSI of two share vectors over the same bins, each share floored at ``epsilon``."""
    r, c = np.maximum(reference, epsilon), np.maximum(current, epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def psi(
    reference: np.ndarray,
    current: np.ndarray,
    categorical: bool = False,
    bins: int = DEFAULT_BINS,
    epsilon: float = DEFAULT_EPSILON,
) -> float:
    """PSI of ``current`` against ``reference`` (see the module docstring for bins and ``epsilon``).

    NaNs are dropped first (a feature store column has none; score vectors may).

    Raises:
        InvalidInputError: a sample is empty after dropping NaNs.
    """
    reference, current = (np.asarray(x, dtype=np.float64).ravel() for x in (reference, current))
    reference, current = reference[~np.isnan(reference)], current[~np.isnan(current)]
    if len(reference) == 0 or len(current) == 0:
        raise InvalidInputError(
            f"PSI needs non-empty samples, got {len(reference)} reference and {len(current)} current values"
        )
    if categorical:
        codes = np.union1d(reference, current)
        # Each code is its own bin: edges at the codes themselves with right-closed bins put code k in bin k.
        return psi_from_shares(bin_shares(reference, codes)[:-1], bin_shares(current, codes)[:-1], epsilon)
    edges = quantile_edges(reference, bins)
    return psi_from_shares(bin_shares(reference, edges), bin_shares(current, edges), epsilon)
