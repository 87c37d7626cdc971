"""The propensity predictor: a KServe ``Model`` serving the exported TorchScript TabTransformer.

Protocols (both over the same ``ModelServer``):
  - KServe v1 REST: ``POST /v1/models/{name}:predict`` with ``{"instances": [...]}``, each instance a feature
    record (``{"recency_days": 3, ..., "channel_preference": "mobile"}``; categoricals as labels or codes)
    or a row of numbers in contract order; answers ``{"predictions": [p, ...]}``.
  - Open Inference Protocol v2, REST and gRPC: one FP32 input ``features`` ``[N, F]`` in contract order;
    answers one FP32 output ``propensity`` ``[N, 1]``, with ``model_version`` the served model file's digest
    (``propensity.export.model_digest``).

Every payload is checked by the model's feature contract; a bad one raises ``InvalidInput``, which KServe
answers with HTTP 400 / gRPC INVALID_ARGUMENT and the contract's message. Concurrent requests are scored
together by a micro-batcher, so throughput grows with concurrency.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from kserve import InferRequest, InferResponse, Model

from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.export import load_model_dir, model_digest
from loyaltylens.runtime.batching import DEFAULT_MAX_BATCH_ROWS, DEFAULT_WINDOW_S, MicroBatcher
from loyaltylens.runtime.codec import (
    V2_FEATURE_DATATYPE,
    V2_OUTPUT_DATATYPE,
    decode_v1_instances,
    decode_v2_features,
    encode_v2_output,
)
from loyaltylens.runtime.errors import kserve_errors
from loyaltylens.runtime.model_source import resolve_model_dir

logger = logging.getLogger(__name__)

# Batch sizes run once at load so TorchScript's profiling executor has optimised the graph before the
# first request (its first calls on new shapes are several times slower).
WARMUP_BATCH_SIZES = (1, 2, 8, 32, 1, 8)


@dataclass(frozen=True)
class ScoringRequest:
    """A decoded request: the validated feature matrix, plus the v2 request it came from (None for v1)."""

    features: np.ndarray  # [N, F] float32
    v2_request: InferRequest | None


@dataclass(frozen=True)
class ScoredRequest:
    request: ScoringRequest
    probabilities: np.ndarray  # [N, 1] float32


class PropensityModel(Model):
    """Redemption propensity for feature rows.

    Args:
        name: the model name in the URL paths.
        model_ref: a model directory or a ``models:/<name>@<alias>`` registry URI.
        tracking_uri: MLflow tracking URI used to resolve registry URIs.
        download_root: where registry versions are downloaded to (and reused from).
        max_batch_size: the largest batch one request may carry.
        max_batch_rows / batch_window_s: micro-batching limits (see ``MicroBatcher``).
        torch_threads: intra-op threads; 1 keeps batch-1 latency lowest and leaves the other cores to the
            event loop, while throughput comes from batching concurrent requests.
    """

    def __init__(
        self,
        name: str,
        model_ref: str | Path,
        tracking_uri: str,
        download_root: Path,
        max_batch_size: int,
        max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
        batch_window_s: float = DEFAULT_WINDOW_S,
        torch_threads: int = 1,
    ):
        super().__init__(name)
        self.model_ref = model_ref
        self.tracking_uri = tracking_uri
        self.download_root = download_root
        self.max_batch_size = max_batch_size
        self.max_batch_rows = max_batch_rows
        self.batch_window_s = batch_window_s
        self.torch_threads = torch_threads
        self.contract: FeatureContract | None = None
        self.model_version: str | None = None  # the served TorchScript file's digest, in every v2 response
        self._module: torch.jit.ScriptModule | None = None
        self._batcher: MicroBatcher | None = None

    def load(self) -> bool:
        model_dir = resolve_model_dir(self.model_ref, self.tracking_uri, self.download_root)
        torch.set_num_threads(self.torch_threads)
        self._module, self.contract = load_model_dir(model_dir)
        self.model_version = model_digest(model_dir)
        for batch_size in WARMUP_BATCH_SIZES:
            self._forward(np.zeros((batch_size, self.contract.n_features), dtype=np.float32))
        self._batcher = MicroBatcher(self._forward, self.max_batch_rows, self.batch_window_s)
        logger.info("loaded %s from %s (%d features)", self.name, model_dir, self.contract.n_features)
        self.ready = True
        return self.ready

    def get_input_types(self) -> list[dict]:
        return [
            {
                "name": self.contract.input_name,
                "datatype": V2_FEATURE_DATATYPE,
                "shape": [-1, self.contract.n_features],
            }
        ]

    def get_output_types(self) -> list[dict]:
        return [{"name": self.contract.output_name, "datatype": V2_OUTPUT_DATATYPE, "shape": [-1, 1]}]

    async def preprocess(
        self, payload: dict | InferRequest, headers: dict[str, str] | None = None
    ) -> ScoringRequest:
        with kserve_errors():
            if isinstance(payload, InferRequest):
                features = decode_v2_features(payload, self.contract, self.max_batch_size)
                return ScoringRequest(features, payload)
            return ScoringRequest(decode_v1_instances(payload, self.contract, self.max_batch_size), None)

    async def predict(self, request: ScoringRequest, headers: dict[str, str] | None = None) -> ScoredRequest:
        return ScoredRequest(request, await self._batcher.submit(request.features))

    async def postprocess(
        self, scored: ScoredRequest, headers: dict[str, str] | None = None
    ) -> dict | InferResponse:
        v2_request = scored.request.v2_request
        if v2_request is None:
            return {"predictions": scored.probabilities[:, 0].tolist()}
        return encode_v2_output(
            v2_request, scored.probabilities, self.name, self.contract.output_name, self.model_version
        )

    def _forward(self, features: np.ndarray) -> np.ndarray:
        """One forward pass, ``[N, F]`` -> ``[N, 1]``; the micro-batcher calls it inline for a lone request,
        otherwise from a worker thread, never two at a time."""
        with torch.inference_mode():  # thread-local, so it is entered here rather than at load
            return self._module(torch.from_numpy(features)).numpy()
