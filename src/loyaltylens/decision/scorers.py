"""Two ways to score propensity with the same interface: the TorchScript model in-process, or a KServe
server over the Open Inference Protocol v2 (REST). ``run_for_customer`` takes either.

Each carries the margin model registered with the propensity model it scores with (``margin_model``; None for a
model directory without one): the chain decides by expected margin when it is there."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from loyaltylens.decision.margin import MarginModel, load_margin_model
from loyaltylens.decision.telemetry import REQUEST_ID, REQUEST_ID_HEADER
from loyaltylens.errors import (
    DataValidationError,
    InvalidInputError,
    LoyaltyLensError,
    ModelVersionMismatchError,
    ServiceUnavailableError,
)
from loyaltylens.features.definitions import FEATURE_NAMES, PAIR_FEATURE_NAMES


class PropensityScorer(Protocol):
    name: str
    offer_aware: bool  # the model scores (customer, offer) pair rows, not customers alone
    margin_model: MarginModel | None  # registered with the model: turns its scores into expected margins

    def score(self, features: np.ndarray) -> np.ndarray:
        """Probabilities ``[N]`` for a validated float32 matrix ``[N, F]``."""
        ...


def is_offer_aware(n_features: int) -> bool:
    """Whether a model with ``n_features`` inputs takes (customer, offer) pair rows, or customer rows.

    Raises:
        DataValidationError: the width is neither: the model was built on other features (an older build's).
    """
    if n_features not in (len(FEATURE_NAMES), len(PAIR_FEATURE_NAMES)):
        raise DataValidationError(
            f"the model takes {n_features} features, where this build's customer rows have {len(FEATURE_NAMES)} "
            f"and pair rows {len(PAIR_FEATURE_NAMES)}: retrain it on the current features"
        )
    return n_features == len(PAIR_FEATURE_NAMES)


class InProcessScorer:
    """The exported TorchScript model, called directly (``DecisionChain`` runs a decision on one thread)."""

    def __init__(self, model_dir: Path):
        import torch

        from loyaltylens.propensity.export import load_model_dir

        self._torch = torch
        self.model, self.contract = load_model_dir(model_dir)
        self.name = f"in-process:{model_dir}"
        self.offer_aware = is_offer_aware(self.contract.n_features)
        self.margin_model = load_margin_model(model_dir)

    def score(self, features: np.ndarray) -> np.ndarray:
        matrix = self.contract.validate_matrix(features)
        with self._torch.inference_mode():
            return self.model(self._torch.from_numpy(matrix)).numpy()[:, 0]


class KServeV2Scorer:
    """POST /v2/models/{model}/infer on a KServe predictor, with a pooled keep-alive HTTP connection."""

    def __init__(
        self,
        base_url: str,
        model_name: str = "propensity",
        timeout: float = 5.0,
        margin_model: MarginModel | None = None,
        model_version: str | None = None,
    ):
        """``margin_model``: the one registered with the model version the server serves; ``model_version``: that
        model's digest (``propensity.export.model_digest``), which every answer must carry, else scoring fails
        rather than decide with a margin model recalibrated for another model. :meth:`for_model_dir` sets both."""
        import httpx

        self.url = f"{base_url.rstrip('/')}/v2/models/{model_name}/infer"
        self.name = f"kserve-v2:{self.url}"
        self._client = httpx.Client(timeout=timeout)
        self._metadata_url = f"{base_url.rstrip('/')}/v2/models/{model_name}"
        self._offer_aware: bool | None = None
        self.margin_model = margin_model
        self.model_version = model_version

    @classmethod
    def for_model_dir(cls, base_url: str, model_dir: Path, model_name: str = "propensity", timeout: float = 5.0):
        """A scorer for the predictor serving the model of ``model_dir``, deciding with the margin model registered
        there and checking that the predictor answers with that model."""
        from loyaltylens.propensity.export import model_digest

        return cls(base_url, model_name, timeout, load_margin_model(model_dir), model_digest(model_dir))

    @property
    def offer_aware(self) -> bool:
        """Read once from the served model's v2 metadata: the width of its ``features`` input."""
        if self._offer_aware is None:
            response = self._send("GET", self._metadata_url)
            if response.status_code != 200:
                raise LoyaltyLensError(f"predictor at {self._metadata_url} answered {response.status_code}")
            self._offer_aware = is_offer_aware(int(response.json()["inputs"][0]["shape"][-1]))
        return self._offer_aware

    def score(self, features: np.ndarray) -> np.ndarray:
        matrix = np.asarray(features, dtype=np.float32)
        request = {
            "inputs": [
                {
                    "name": "features",
                    "shape": list(matrix.shape),
                    "datatype": "FP32",
                    "data": matrix.ravel().tolist(),
                }
            ]
        }
        response = self._send("POST", self.url, json=request)
        if response.status_code == 400:
            raise InvalidInputError(f"predictor rejected the request: {response.json().get('error', response.text)}")
        if response.status_code != 200:
            raise LoyaltyLensError(f"predictor at {self.url} answered {response.status_code}: {response.text[:200]}")
        answer = response.json()
        if self.model_version is not None and answer.get("model_version") != self.model_version:
            raise ModelVersionMismatchError(
                f"predictor at {self.url} serves model {answer.get('model_version') or '(no version)'}, not "
                f"{self.model_version} whose margin model decides: serve one model version to both"
            )
        output = next(o for o in answer["outputs"] if o["name"] == "propensity")
        return np.asarray(output["data"], dtype=np.float32)

    def _send(self, method: str, url: str, **kwargs):
        """One HTTP call carrying the request id (so the predictor's logs join the chain's); a predictor that
        cannot be reached or answers 5xx is unavailable (never a score)."""
        import httpx

        try:
            response = self._client.request(method, url, headers={REQUEST_ID_HEADER: REQUEST_ID.get()}, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(f"predictor at {url} unreachable: {exc}") from exc
        if response.status_code >= 500:
            raise ServiceUnavailableError(f"predictor at {url} answered {response.status_code}: {response.text[:200]}")
        return response

    def close(self) -> None:
        self._client.close()
