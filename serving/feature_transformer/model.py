"""The feature transformer: customer ids (or (customer, offer) pairs) in, propensities out, features looked up
in between.

KServe's transformer -> predictor pattern: ``preprocess`` reads the features from the feature store (latest or
a pinned version) and builds the v2 ``features`` request; ``predict`` forwards it to the propensity predictor
(``--predictor_host``, v2 REST or gRPC, or an in-process predictor object in tests); ``postprocess`` pairs the
propensities with the ids. Without offer ids the rows are the customers' features (the customer contract);
with them they are the pair rows of ``zip(customer_ids, offer_ids)`` (``FeatureContract.for_pairs()``: customer
features, offer features, affinities), which only a predictor serving the offer-aware model accepts.

Requests:
  - v1: ``POST /v1/models/{name}:predict`` ``{"customer_ids": [1, 2], "offer_ids": [7, 9],
    "feature_version": "..."}`` (offers and version optional) -> ``{"predictions": [{"customer_id": 1,
    "offer_id": 7, "propensity": 0.12}, ...], "feature_version": "..."}`` (``offer_id`` only with offers).
  - v2 (REST or gRPC): INT64 input ``customer_ids`` ``[N]`` and, optionally, INT64 input ``offer_ids``
    ``[N]``; optional request parameter ``feature_version`` -> outputs ``customer_ids`` INT64 ``[N]``,
    ``offer_ids`` INT64 ``[N]`` (only with offers) and ``propensity`` FP32 ``[N, 1]``, with the feature
    version read as the response parameter ``feature_version``.

Errors: a malformed request is 400 / INVALID_ARGUMENT (offer ids not one per customer id, non-integers,
unexpected inputs, wrong datatypes), and so is a request whose rows the predictor rejects (offer ids sent to
a customer-contract predictor, or none to a pair-contract one); unknown customer or offer ids, an unknown
feature version or one without offer tables are 404 / NOT_FOUND naming them (the project's mapping of
``NotFoundError``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
import httpx
import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput

from loyaltylens.features.store import FeatureStore
from loyaltylens.runtime.codec import (
    CUSTOMER_IDS_NAME,
    FEATURE_VERSION_KEY,
    IDS_DATATYPE,
    OFFER_IDS_NAME,
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
V1_ID_KEYS = {CUSTOMER_IDS_NAME: "customer_id", OFFER_IDS_NAME: "offer_id"}  # v2 output name -> v1 field


class PredictorRequest(InferRequest):
    """The v2 ``features`` request for the predictor, remembering whom it scores and who asked.

    It stays an ``InferRequest`` so KServe's inherited ``predict`` can send it over REST or gRPC unchanged.
    """

    def __init__(
        self,
        model_name: str,
        features: np.ndarray,
        lookup: CustomerLookup,
        feature_version: str,
        caller: InferRequest | None,
    ):
        super().__init__(
            model_name=model_name, infer_inputs=[encode_v2_features(features, PREDICTOR_INPUT_NAME)]
        )
        self.customer_ids = lookup.customer_ids
        self.offer_ids = lookup.offer_ids  # None: customer rows; else pair rows
        self.feature_version = feature_version  # resolved: "latest" becomes the version read
        self.caller = caller  # the v2 request to answer in kind; None when the caller spoke v1


@dataclass(frozen=True)
class CustomerScores:
    request: PredictorRequest
    propensities: np.ndarray  # [N] float32


class FeatureTransformer(Model):
    """Propensities by customer id or (customer, offer) pair: features from the store, scores from the
    predictor.

    Args:
        name: model name; the same as the predictor's, which the forwarded requests address.
        feature_store: where the customers' (and offers') online features are read.
        max_batch_size: the most customer ids (or pairs) one request may carry.
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
            "serving features from %s (latest: %s, as of %s, offer tables: %s)",
            self.feature_store,
            latest.version,
            latest.as_of,
            latest.has_offer_tables,
        )
        self.ready = True
        return self.ready

    def get_input_types(self) -> list[dict]:
        """``customer_ids`` and, optionally (pair scoring), ``offer_ids`` of the same length. The v2 metadata
        has no way to mark an input optional; the module docstring says which are."""
        return [
            {"name": CUSTOMER_IDS_NAME, "datatype": IDS_DATATYPE, "shape": [-1]},
            {"name": OFFER_IDS_NAME, "datatype": IDS_DATATYPE, "shape": [-1]},
        ]

    def get_output_types(self) -> list[dict]:
        """``customer_ids``, ``offer_ids`` (only when the request had them) and ``propensity``."""
        return [
            {"name": CUSTOMER_IDS_NAME, "datatype": IDS_DATATYPE, "shape": [-1]},
            {"name": OFFER_IDS_NAME, "datatype": IDS_DATATYPE, "shape": [-1]},
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
        try:
            if self.predictor is None:
                response = await super().predict(request, headers)  # to predictor_host over REST or gRPC
            else:
                response, _ = await self.predictor(request, headers)
        except (InvalidInput, httpx.HTTPStatusError, grpc.RpcError) as exc:
            reason = _rejection(exc)
            if reason is None:
                raise
            raise InvalidInput(_rejected_rows_message(request, reason)) from None
        return CustomerScores(request, decode_v2_output(response, PREDICTOR_OUTPUT_NAME).reshape(-1))

    async def postprocess(
        self, scores: CustomerScores, headers: dict[str, str] | None = None
    ) -> dict | InferResponse:
        request = scores.request
        ids = {CUSTOMER_IDS_NAME: request.customer_ids, OFFER_IDS_NAME: request.offer_ids}
        ids = {name: values for name, values in ids.items() if values is not None}
        if request.caller is None:
            columns = {V1_ID_KEYS[name]: values.tolist() for name, values in ids.items()}
            columns[PREDICTOR_OUTPUT_NAME] = scores.propensities.tolist()
            rows = zip(*columns.values(), strict=True)
            return {
                "predictions": [dict(zip(columns, row, strict=True)) for row in rows],
                FEATURE_VERSION_KEY: request.feature_version,
            }
        outputs = []
        for name, values in ids.items():
            tensor = InferOutput(name, [len(values)], IDS_DATATYPE)
            tensor.set_data_from_numpy(values.astype(np.int64), binary_data=False)
            outputs.append(tensor)
        propensity = InferOutput(PREDICTOR_OUTPUT_NAME, [len(scores.propensities), 1], V2_OUTPUT_DATATYPE)
        propensity.set_data_from_numpy(
            scores.propensities.reshape(-1, 1).astype(np.float32), binary_data=False
        )
        return InferResponse(
            response_id=request.caller.id or "",
            model_name=self.name,
            infer_outputs=[*outputs, propensity],
            parameters={FEATURE_VERSION_KEY: request.feature_version},
        )

    def _lookup_features(self, lookup: CustomerLookup, caller: InferRequest | None) -> PredictorRequest:
        version = lookup.feature_version or LATEST_VERSION
        if lookup.offer_ids is None:
            batch = self.feature_store.get_features(lookup.customer_ids, version=version)
        else:
            batch = self.feature_store.get_pair_features(lookup.customer_ids, lookup.offer_ids, version=version)
        return PredictorRequest(self.name, batch.values, lookup, batch.version, caller)


def _rejection(exc: Exception) -> str | None:
    """The predictor's reason when it refused the request as invalid (400 / INVALID_ARGUMENT), else None."""
    if isinstance(exc, InvalidInput):  # an in-process predictor
        return exc.reason
    if isinstance(exc, httpx.HTTPStatusError):
        if exc.response.status_code != httpx.codes.BAD_REQUEST:
            return None
        try:
            return str(exc.response.json()["error"])
        except (ValueError, KeyError, TypeError):
            return exc.response.text
    if isinstance(exc, grpc.RpcError) and exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return exc.details()
    return None


def _rejected_rows_message(request: PredictorRequest, reason: str) -> str:
    """Why the predictor refused rows the transformer built from valid ids: most likely the request's kind
    (customers or pairs) does not match the contract of the model the predictor serves."""
    if request.offer_ids is not None:
        return (
            f"the predictor refused the (customer, offer) pair rows looked up for {OFFER_IDS_NAME}: it seems to "
            f"serve a customer-only model, which scores {CUSTOMER_IDS_NAME} without {OFFER_IDS_NAME} "
            f"(predictor: {reason})"
        )
    return (
        f"the predictor refused the customer rows looked up for {CUSTOMER_IDS_NAME}: if it serves the "
        f"offer-aware model, send {OFFER_IDS_NAME} too, one per customer id (predictor: {reason})"
    )
