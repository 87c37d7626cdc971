"""Serving fixtures: one exported model per session, the real servers started on free loopback ports, and
the in-process TorchScript reference every served answer is compared with.

The model is untrained (``tests.model_samples``): serving never depends on what it learned.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from loyaltylens.config import get_settings
from loyaltylens.features.definitions import ENTITY_COLUMN
from loyaltylens.features.store import FeatureStore
from loyaltylens.local.stack import (
    PropensityStack,
    ServerAddress,
    start_propensity_stack,
    transformer_process,
)
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.export import load_model_dir
from tests.model_samples import export_untrained_model, random_feature_rows
from tests.serving.payloads import CUSTOMER_IDS, MODEL_NAME


@pytest.fixture(scope="session")
def max_batch_size() -> int:
    return get_settings().max_batch_size


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return export_untrained_model(tmp_path_factory.mktemp("model"), feature_version="test-v1")


@pytest.fixture(scope="session")
def contract(model_dir) -> FeatureContract:
    return FeatureContract.load(model_dir)


@pytest.fixture(scope="session")
def reference(model_dir) -> Callable[[np.ndarray], np.ndarray]:
    """The exported TorchScript model run in-process: ``[N, F]`` -> ``[N, 1]``."""
    module, _ = load_model_dir(model_dir)

    def predict(rows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))).numpy()

    return predict


@pytest.fixture(scope="session")
def predictor(model_dir, tmp_path_factory) -> PropensityStack:
    """The propensity predictor as a real ``python -m serving.propensity`` process."""
    with start_propensity_stack(model_dir, tmp_path_factory.mktemp("logs"), with_transformer=False) as stack:
        yield stack


@pytest.fixture(scope="session")
def feature_store(tmp_path_factory, contract) -> FeatureStore:
    """Two published versions of the same customers with different feature values."""
    store = FeatureStore.at(tmp_path_factory.mktemp("feature_store"))
    for seed, as_of in ((10, "2026-01-01"), (11, "2026-02-01")):
        online = pd.DataFrame(
            random_feature_rows(contract, len(CUSTOMER_IDS), seed=seed), columns=contract.names
        )
        online.insert(0, ENTITY_COLUMN, CUSTOMER_IDS)
        store.publish(online, {"as_of": as_of})
    return store


@pytest.fixture(scope="session")
def transformers(predictor, feature_store, tmp_path_factory) -> dict[str, ServerAddress]:
    """Feature transformer processes in front of the predictor, one per predictor protocol."""
    log_dir = tmp_path_factory.mktemp("transformer-logs")
    hosts = {"grpc-v2": predictor.predictor.grpc_target, "v2": predictor.predictor.http_host}
    addresses = {protocol: ServerAddress.free() for protocol in hosts}
    with ExitStack() as running:
        for protocol, host in hosts.items():
            running.enter_context(
                transformer_process(
                    host,
                    addresses[protocol],
                    log_dir / f"{protocol}.log",
                    MODEL_NAME,
                    protocol,
                    feature_store,
                )
            )
        yield addresses
