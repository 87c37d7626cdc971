"""PSI against a hand-computed example, a planted shift and an unshifted resample."""

import math

import numpy as np
import pytest

from loyaltylens.errors import InvalidInputError
from loyaltylens.monitoring.psi import DriftLevel, bin_shares, drift_level, psi, quantile_edges


def test_psi_matches_a_hand_computed_example() -> None:
    # Reference 0..9 with bins=2: the one inner edge is the median 4.5, so bins (-inf, 4.5] and (4.5, inf)
    # hold 50 % / 50 %. Current: 8 of 10 values at or below 4.5 -> 80 % / 20 %.
    reference = np.arange(10.0)
    current = np.array([0, 1, 1, 2, 3, 3, 4, 4, 7, 9], dtype=float)
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)  # = 0.4159
    assert psi(reference, current, bins=2) == pytest.approx(expected, abs=1e-12)
    assert psi(reference, current, bins=2) == pytest.approx(0.41589, abs=1e-5)


def test_categorical_psi_and_the_epsilon_floor_of_an_empty_bin() -> None:
    reference = np.array([0] * 50 + [1] * 50)
    current = np.array([0] * 100)  # code 1 vanished: its share is floored at epsilon
    eps = 1e-4
    expected = (1.0 - 0.5) * math.log(1.0 / 0.5) + (eps - 0.5) * math.log(eps / 0.5)
    assert psi(reference, current, categorical=True, epsilon=eps) == pytest.approx(expected)
    assert math.isfinite(expected)


def test_tied_reference_values_share_one_bin() -> None:
    reference = np.array([0.0] * 60 + list(range(1, 41)))
    edges = quantile_edges(reference, 10)
    assert edges[0] == 0.0 and len(edges) == len(set(edges))
    shares = bin_shares(reference, edges)
    assert shares[0] == pytest.approx(0.6)  # every zero in the first bin
    assert shares.sum() == pytest.approx(1.0)


def test_planted_shift_is_major_and_unshifted_resample_is_stable() -> None:
    rng = np.random.default_rng(7)
    reference = rng.gamma(2.0, 10.0, 20_000)
    resample = rng.gamma(2.0, 10.0, 20_000)
    shifted = rng.gamma(2.0, 10.0, 20_000) + 8.0  # everyone 8 units up, ~0.6 standard deviations
    assert drift_level(psi(reference, resample)) is DriftLevel.STABLE
    assert psi(reference, resample) < 0.01
    assert drift_level(psi(reference, shifted)) is DriftLevel.MAJOR


def test_levels_follow_the_rule_of_thumb() -> None:
    assert [drift_level(v) for v in (0.0, 0.099, 0.1, 0.2, 0.2001)] == [
        DriftLevel.STABLE,
        DriftLevel.STABLE,
        DriftLevel.MINOR,
        DriftLevel.MINOR,
        DriftLevel.MAJOR,
    ]


def test_empty_sample_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="non-empty"):
        psi(np.array([np.nan]), np.arange(3.0))
