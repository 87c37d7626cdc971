"""Request codecs: KServe v1 / Open Inference Protocol v2 payloads to and from numpy.

The predictor's payloads become the model's feature matrix, the transformer's become customer ids (and, for
the offer-aware model, the offer id paired with each customer). Only the protocol envelope is checked here
(is there an ``instances`` list, do the tensors have the expected names and datatypes and data that fits
their declared shapes, is there one offer id per customer id); every check on feature values (shape
``[N, F]``, finiteness, ranges, category codes, batch size) is the feature contract's, so all servers agree.
Errors are ``InvalidInputError`` naming the problem; the KServe models turn them into HTTP 400 /
INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import orjson
from kserve import InferInput, InferOutput, InferRequest, InferResponse
from kserve.protocol.infer_type import to_http_parameters

from loyaltylens.errors import InvalidInputError, LoyaltyLensError
from loyaltylens.propensity.contract import FeatureContract

V2_FEATURE_DATATYPE = "FP32"
V2_OUTPUT_DATATYPE = "FP32"
CUSTOMER_IDS_NAME = "customer_ids"
OFFER_IDS_NAME = "offer_ids"
IDS_DATATYPE = "INT64"  # of both id tensors
FEATURE_VERSION_KEY = "feature_version"


@dataclass(frozen=True)
class CustomerLookup:
    """Which customers to score, from which feature version (None = the latest); with ``offer_ids``, the
    (customer, offer) pairs ``zip(customer_ids, offer_ids)`` for the offer-aware model."""

    customer_ids: np.ndarray  # [N] int64
    feature_version: str | None
    offer_ids: np.ndarray | None = None  # [N] int64, one offer per customer id; None = customers only


def decode_v1_instances(body: object, contract: FeatureContract, max_batch_size: int) -> np.ndarray:
    """``{"instances": [...]}`` of feature records (named, categoricals as labels or codes) or of rows in
    contract order -> validated float32 ``[N, F]``."""
    body = _json_document(body)
    if not isinstance(body, Mapping) or "instances" not in body:
        raise InvalidInputError('expected a JSON object with an "instances" list')
    instances = body["instances"]
    if not isinstance(instances, list):
        raise InvalidInputError('"instances" must be a list of feature records or rows')
    if not instances:
        raise InvalidInputError('"instances" is empty')
    if isinstance(instances[0], Mapping):
        return contract.encode_records(instances, max_batch_size)
    # Checked before the values are converted, so an oversized batch is refused cheaply.
    _check_batch_size("instances", len(instances), max_batch_size)
    return contract.validate_matrix(instances, max_batch_size)


def decode_v2_features(request: InferRequest, contract: FeatureContract, max_batch_size: int) -> np.ndarray:
    """A v2 request with one FP32 input ``features`` of shape ``[N, F]`` -> validated float32 ``[N, F]``."""
    tensor = _single_input(request, contract.input_name, V2_FEATURE_DATATYPE)
    shape = list(tensor.shape)
    if len(shape) != 2 or shape[1] != contract.n_features or shape[0] < 0:
        raise InvalidInputError(
            f"{tensor.name}: shape must be [N, {contract.n_features}] in order {list(contract.names)}, "
            f"got {shape}"
        )
    _check_batch_size(tensor.name, shape[0], max_batch_size)
    try:
        # Binary payloads (gRPC raw contents, REST binary extension) and JSON lists alike.
        matrix = tensor.as_numpy()
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{tensor.name}: data does not fit the declared shape {shape} "
            f"as {V2_FEATURE_DATATYPE} numbers ({exc})"
        ) from None
    return contract.validate_matrix(matrix, max_batch_size)


def encode_v2_features(matrix: np.ndarray, input_name: str) -> InferInput:
    """The v2 input tensor a client (or the feature transformer) sends for a feature matrix ``[N, F]``."""
    tensor = InferInput(name=input_name, shape=list(matrix.shape), datatype=V2_FEATURE_DATATYPE)
    tensor.set_data_from_numpy(np.ascontiguousarray(matrix, dtype=np.float32), binary_data=False)
    return tensor


def encode_v2_output(
    request: InferRequest, outputs: np.ndarray, model_name: str, output_name: str, model_version: str | None = None
) -> InferResponse:
    """Answer ``request`` with the FP32 tensor ``outputs`` ``[N, 1]``, echoing its id and binary choice, stamped with
    the ``model_version`` that scored it."""
    tensor = InferOutput(name=output_name, shape=list(outputs.shape), datatype=V2_OUTPUT_DATATYPE)
    tensor.set_data_from_numpy(
        np.ascontiguousarray(outputs, dtype=np.float32), binary_data=request.use_binary_outputs
    )
    return InferResponse(
        response_id=request.id or "",
        model_name=model_name,
        model_version=model_version,
        infer_outputs=[tensor],
        use_binary_outputs=request.use_binary_outputs,
    )


def decode_v2_output(response: InferResponse, output_name: str) -> np.ndarray:
    """The named output tensor of a v2 response as a numpy array."""
    tensor = response.get_output_by_name(output_name)
    if tensor is None:
        raise LoyaltyLensError(
            f"predictor response has no output '{output_name}' (got {[o.name for o in response.outputs]})"
        )
    return tensor.as_numpy()


def decode_v1_customer_ids(body: object, max_batch_size: int) -> CustomerLookup:
    """``{"customer_ids": [1, 2], "offer_ids": [7, 9], "feature_version": "..."}`` (offers and version
    optional) -> a lookup."""
    body = _json_document(body)
    if not isinstance(body, Mapping) or CUSTOMER_IDS_NAME not in body:
        raise InvalidInputError(f'expected a JSON object with a "{CUSTOMER_IDS_NAME}" list')
    unexpected = sorted(set(body) - {CUSTOMER_IDS_NAME, OFFER_IDS_NAME, FEATURE_VERSION_KEY})
    if unexpected:
        raise InvalidInputError(f"unexpected field(s) {unexpected}")
    offer_ids = _v1_ids(body, OFFER_IDS_NAME) if OFFER_IDS_NAME in body else None
    return _lookup(_v1_ids(body, CUSTOMER_IDS_NAME), offer_ids, body.get(FEATURE_VERSION_KEY), max_batch_size)


def decode_v2_customer_ids(request: InferRequest, max_batch_size: int) -> CustomerLookup:
    """A v2 request with an INT64 input ``customer_ids`` (``[N]`` or ``[N, 1]``) and, optionally, an INT64
    input ``offer_ids`` of the same length; the feature version, if pinned, is the request parameter
    ``feature_version``."""
    names = [tensor.name for tensor in request.inputs]
    if sorted(names) not in ([CUSTOMER_IDS_NAME], [CUSTOMER_IDS_NAME, OFFER_IDS_NAME]):
        raise InvalidInputError(
            f"expected an input tensor named '{CUSTOMER_IDS_NAME}' and optionally one named '{OFFER_IDS_NAME}', "
            f"got {names}"
        )
    ids = {tensor.name: _v2_ids(tensor) for tensor in request.inputs}
    parameters = to_http_parameters(request.parameters or {})
    return _lookup(
        ids[CUSTOMER_IDS_NAME], ids.get(OFFER_IDS_NAME), parameters.get(FEATURE_VERSION_KEY), max_batch_size
    )


def _json_document(body: object) -> object:
    """The decoded v1 body. KServe passes the raw bytes on when the content type is not JSON (curl -d sends
    a form type by default); such a body is still accepted when it parses as JSON."""
    if not isinstance(body, bytes | str):
        return body
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"request body is not JSON ({exc})") from None


def _single_input(request: InferRequest, name: str, datatype: str) -> InferInput:
    """The request's one input tensor, which must be called ``name`` and hold ``datatype``."""
    names = [tensor.name for tensor in request.inputs]
    if names != [name]:
        raise InvalidInputError(f"expected exactly one input tensor named '{name}', got {names}")
    tensor = request.inputs[0]
    if tensor.datatype != datatype:
        raise InvalidInputError(f"{name}: datatype must be {datatype}, got {tensor.datatype}")
    return tensor


def _check_batch_size(what: str, size: int, max_batch_size: int) -> None:
    if size > max_batch_size:
        raise InvalidInputError(f"{what}: batch of {size} exceeds the limit of {max_batch_size}")


def _v1_ids(body: Mapping, name: str) -> np.ndarray:
    """``body[name]``, a JSON list of integers, as int64 ``[N]``."""
    ids = body[name]
    if not isinstance(ids, list) or not all(_is_int(i) for i in ids):
        raise InvalidInputError(f'"{name}" must be a list of integers')
    try:
        return np.asarray(ids, dtype=np.int64)
    except OverflowError:
        raise InvalidInputError(f'"{name}": ids must fit in a signed 64-bit integer') from None


def _v2_ids(tensor: InferInput) -> np.ndarray:
    """An INT64 id tensor ``[N]`` or ``[N, 1]`` as int64 ``[N]``."""
    if tensor.datatype != IDS_DATATYPE:
        raise InvalidInputError(f"{tensor.name}: datatype must be {IDS_DATATYPE}, got {tensor.datatype}")
    shape = list(tensor.shape)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise InvalidInputError(f"{tensor.name}: shape must be [N] or [N, 1], got {shape}")
    try:
        ids = tensor.as_numpy().reshape(-1)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError(f"{tensor.name}: data does not fit the declared shape {shape} ({exc})") from None
    # JSON data: numpy would quietly truncate 1.5 and parse "1" (binary data is typed already).
    if isinstance(tensor.data, list) and not all(_is_int(i) for i in np.asarray(tensor.data, dtype=object).flat):
        raise InvalidInputError(f"{tensor.name}: ids must be integers")
    return ids


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _lookup(
    customer_ids: np.ndarray, offer_ids: np.ndarray | None, feature_version: object, max_batch_size: int
) -> CustomerLookup:
    """The checked lookup: a non-empty batch within the limit, one offer per customer if offers are given."""
    if customer_ids.size == 0:
        raise InvalidInputError(f"{CUSTOMER_IDS_NAME}: empty batch")
    _check_batch_size(CUSTOMER_IDS_NAME, customer_ids.size, max_batch_size)
    if offer_ids is not None and offer_ids.size != customer_ids.size:
        raise InvalidInputError(
            f"{OFFER_IDS_NAME}: got {offer_ids.size} id(s) for {customer_ids.size} {CUSTOMER_IDS_NAME}; "
            "each customer id needs the offer id it is scored with"
        )
    return CustomerLookup(customer_ids, _feature_version(feature_version), offer_ids)


def _feature_version(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return value
    raise InvalidInputError(f'"{FEATURE_VERSION_KEY}" must be a non-empty string')
