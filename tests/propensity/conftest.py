"""Shared fixtures: a synthetic training frame, one trained model and one exported candidate per session.

Training is the slow part, so tests that only read a trained model or a candidate share these. The
synthetic frame has the feature store's exact schema and a known logistic ground truth, for tests that
need control the real generator does not give (a chosen signal, a broken frame); the integration
tests use the real generator and feature store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loyaltylens.config import get_settings
from loyaltylens.features.definitions import FEATURE_NAMES
from loyaltylens.propensity.registry import ModelRegistry
from loyaltylens.propensity.train import TrainConfig, TrainResult, train_propensity
from loyaltylens.propensity.workflow import Candidate, build_candidate
from loyaltylens.vocabulary import CHANNELS, PRODUCT_CATEGORIES, SEGMENTS

# Small and fast; the synthetic truth is strong enough that a few epochs learn it. One intra-op thread:
# on tiny batches more threads only add synchronisation, worst when other test processes share the CPU.
FAST_CONFIG = TrainConfig(max_epochs=8, patience=2, seed=7, num_threads=1)


def synthetic_training_frame(
    n_customers: int = 2000, n_snapshots: int = 5, treated_share: float = 0.7, seed: int = 0
) -> pd.DataFrame:
    """``n_customers`` x ``n_snapshots`` rows in store column order, labels drawn from ``true_propensity``."""
    rng = np.random.default_rng(seed)
    n = n_customers * n_snapshots
    segment = rng.integers(0, len(SEGMENTS), n)
    channel = rng.integers(0, len(CHANNELS), n)
    frequency_90d = rng.poisson(np.where(segment == 1, 9, 5))
    redemption_rate = rng.beta(2, 5, n)
    engagement = np.clip(redemption_rate + rng.normal(0, 0.15, n), 0, 1)
    recency = np.minimum(rng.exponential(20, n), 365.0)
    features = {
        "recency_days": recency,
        "frequency_30d": rng.binomial(frequency_90d, 0.35),
        "frequency_90d": frequency_90d,
        "monetary_90d": frequency_90d * rng.gamma(4, 8, n),
        "avg_basket_90d": rng.gamma(4, 8, n),
        "avg_basket_365d": rng.gamma(4, 8, n),
        "offer_redemption_rate": redemption_rate,
        "offers_received_180d": rng.poisson(4, n),
        "offers_received_30d": rng.poisson(1, n),
        "days_since_last_offer": np.minimum(rng.exponential(20, n), 365.0),
        "engagement_score": engagement,
        "days_since_last_redemption": np.minimum(rng.exponential(60, n), 365.0),
        "tenure_days": rng.uniform(30, 1500, n),
        "channel_preference": channel,
        "segment": segment,
        "favorite_category": rng.integers(0, len(PRODUCT_CATEGORIES) + 1, n),
    }
    logit = (
        -1.8
        + 8.0 * (redemption_rate - 0.3)
        + 3.0 * (engagement - 0.3)
        - 0.8 * np.log1p(recency / 10)
        + 0.15 * frequency_90d
        + np.array([0.0, 0.5, 0.2, -0.3])[segment]
        + np.array([0.0, 0.4, -0.2])[channel]
    )
    true_propensity = 1.0 / (1.0 + np.exp(-logit))
    # Without an offer there is nothing to redeem: untreated rows are always 0, as in the feature store.
    treated = rng.random(n) < treated_share
    redeemed = treated & (rng.random(n) < true_propensity)
    start = pd.Timestamp("2026-01-01")
    return pd.DataFrame(
        {
            "customer_id": np.tile(np.arange(n_customers), n_snapshots),
            "as_of": np.repeat([start + pd.Timedelta(days=28 * i) for i in range(n_snapshots)], n_customers),
            **{name: features[name] for name in FEATURE_NAMES},
            "label": redeemed.astype(np.int64),
            "treated_in_window": treated.astype(np.int64),
            "true_propensity": true_propensity,
        }
    )


@pytest.fixture(scope="session")
def fast_config() -> TrainConfig:
    return FAST_CONFIG


@pytest.fixture(scope="session")
def make_frame():
    """The frame factory, for tests that need a frame of their own."""
    return synthetic_training_frame


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return synthetic_training_frame(n_customers=2000, n_snapshots=5, seed=0)


@pytest.fixture(scope="session")
def trained(frame: pd.DataFrame) -> TrainResult:
    return train_propensity(frame, FAST_CONFIG)


@pytest.fixture(scope="session")
def candidate(trained: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Candidate:
    lineage = {"feature_version": "v-test", "dataset_hash": "d" * 12, "schema_hash": "s" * 12}
    return build_candidate(trained, tmp_path_factory.mktemp("candidate"), "test-model", lineage)


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings rooted in ``tmp_path`` (data dir, SQLite tracking store, artifacts)."""
    monkeypatch.setenv("LOYALTYLENS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LOYALTYLENS_MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def registry(settings_env) -> ModelRegistry:
    return ModelRegistry.from_settings(settings_env)
