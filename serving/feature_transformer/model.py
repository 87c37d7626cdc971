"""The feature transformer: customer ids in, propensities out, features looked up in between.

KServe's transformer -> predictor pattern: ``preprocess`` reads the customers' features from the feature
store (latest or a pinned version) and builds the v2 ``features`` request; ``predict`` forwards it to the
propensity predictor (``--predictor_host``, v2 REST or gRPC, or an in-process predictor object in tests);
``postprocess`` pairs the propensities with the customer ids.

Requests:
  - v1: ``POST /v1/models/{name}:predict`` ``{"customer_ids": [1, 2], "feature_version": "..."}`` (version
    optional) -> ``{"predictions": [{"customer_id": 1, "propensity": 0.12}, ...], "feature_version": "..."}``.
  - v2 (REST or gRPC): one INT64 input ``customer_ids`` ``[N]``; optional request parameter
    ``feature_version`` -> outputs ``customer_ids`` INT64 ``[N]`` and ``propensity`` FP32 ``[N, 1]``, with
    the feature version read as the response parameter ``feature_version``.

Errors: a malformed request is 400 / INVALID_ARGUMENT; unknown customer ids or an unknown feature version
are 404 / NOT_FOUND with the ids or version named (the project's mapping of ``NotFoundError``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model

from loyaltylens.features.store import FeatureStore
from loyaltylens.runtime.codec import (
    CUSTOMER_IDS_DATATYPE,
    CUSTOMER_IDS_NAME,
    FEATURE_VERSION_KEY,
    V2_OUTPUT_DATATYPE,
    CustomerLookup,
    decode_v1_customer_ids,
    decode_v2_customer_ids,
    decode_v2_output,
    encode_v2_features,
)
from loyaltylens.runtime.errors import kserve_errors

logger = logging.getLogger(__name__)

LATEST_VERSION = "latest"
PREDICTOR_INPUT_NAME = "features"
PREDICTOR_OUTPUT_NAME = "propensity"


class PredictorRequest(InferRequest):
    """The v2 ``features`` request for the predictor, remembering whom it scores and who asked.

    It stays an ``InferRequest`` so KServe's inherited ``predict`` can send it over REST or gRPC unchanged.
    """

    def __init__(
        self,
        model_name: str,
        features: np.ndarray,
        customer_ids: np.ndarray,
        feature_version: str,
        caller: InferRequest | None,
    ):
        super().__init__(
            model_name=model_name, infer_inputs=[encode_v2_features(features, PREDICTOR_INPUT_NAME)]
        )
        self.customer_ids = customer_ids
        self.feature_version = feature_version
        self.caller = caller  # the v2 request to answer in kind; None when the caller spoke v1


@dataclass(frozen=True)
class CustomerScores:
    request: PredictorRequest
    propensities: np.ndarray  # [N] float32


class FeatureTransformer(Model):
    """Propensities by customer id: features from the store, scores from the predictor.

    Args:
        name: model name; the same as the predictor's, which the forwarded requests address.
        feature_store: where the customers' online features are read.
        max_batch_size: the most customer ids one request may carry.
        predictor: an in-process predictor ``Model`` to call instead of ``predictor_host`` (tests).
    """

    def __init__(
        self, name: str, feature_store: FeatureStore, max_batch_size: int, predictor: Model | None = None
    ):
        super().__init__(name)
        self.feature_store = feature_store
        self.max_batch_size = max_batch_size
        self.predictor = predictor

    def load(self) -> bool:
        # An empty store fails the start-up with the store's own hint, rather than every request later.
        latest = self.feature_store.describe(LATEST_VERSION)
        logger.info(
            "serving features from %s (latest: %s, as of %s)",
            self.feature_store,
            latest.version,
            latest.as_of,
        )
        self.ready = True
        return self.ready

    def get_input_types(self) -> list[dict]:
        return [{"name": CUSTOMER_IDS_NAME, "datatype": CUSTOMER_IDS_DATATYPE, "shape": [-1]}]

    def get_output_types(self) -> list[dict]:
        return [
            {"name": CUSTOMER_IDS_NAME, "datatype": CUSTOMER_IDS_DATATYPE, "shape": [-1]},
            {"name": PREDICTOR_OUTPUT_NAME, "datatype": V2_OUTPUT_DATATYPE, "shape": [-1, 1]},
        ]

    async def preprocess(
        self, payload: dict | InferRequest, headers: dict[str, str] | None = None
    ) -> PredictorRequest:
        caller = payload if isinstance(payload, InferRequest) else None
        with kserve_errors():
            lookup = (
                decode_v2_customer_ids(payload, self.max_batch_size)
                if caller is not None
                else decode_v1_customer_ids(payload, self.max_batch_size)
            )
            return self._lookup_features(lookup, caller)

    async def predict(
        self, request: PredictorRequest, headers: dict[str, str] | None = None
    ) -> CustomerScores:
        if self.predictor is None:
            response = await super().predict(request, headers)  # to predictor_host over REST or gRPC
        else:
            response, _ = await self.predictor(request, headers)
        return CustomerScores(request, decode_v2_output(response, PREDICTOR_OUTPUT_NAME).reshape(-1))

    async def postprocess(
        self, scores: CustomerScores, headers: dict[str, str] | None = None
    ) -> dict | InferResponse:
        request = scores.request
        if request.caller is None:
            return {
                "predictions": [
                    {"customer_id": int(customer_id), "propensity": float(propensity)}
                    for customer_id, propensity in zip(request.customer_ids, scores.propensities, strict=True)
                ],
                FEATURE_VERSION_KEY: request.feature_version,
            }
        ids = InferOutput(CUSTOMER_IDS_NAME, [len(request.customer_ids)], CUSTOMER_IDS_DATATYPE)
        ids.set_data_from_numpy(request.customer_ids.astype(np.int64), binary_data=False)
        propensity = InferOutput(PREDICTOR_OUTPUT_NAME, [len(scores.propensities), 1], V2_OUTPUT_DATATYPE)
        propensity.set_data_from_numpy(
            scores.propensities.reshape(-1, 1).astype(np.float32), binary_data=False
        )
        return InferResponse(
            response_id=request.caller.id or "",
            model_name=self.name,
            infer_outputs=[ids, propensity],
            parameters={FEATURE_VERSION_KEY: request.feature_version},
        )

    def _lookup_features(self, lookup: CustomerLookup, caller: InferRequest | None) -> PredictorRequest:
        batch = self.feature_store.get_features(lookup.customer_ids, version=lookup.feature_version or LATEST_VERSION)
        return PredictorRequest(self.name, batch.values, batch.customer_ids, batch.version, caller)
