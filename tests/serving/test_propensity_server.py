"""The propensity predictor as a real server: KServe's own clients (v1 REST, v2 REST, v2 gRPC) and plain HTTP.

Every answer must equal the in-process TorchScript model's; every bad payload must get a 4xx JSON error
(or gRPC INVALID_ARGUMENT) naming the problem, and the server must keep serving afterwards.
"""

from __future__ import annotations

import asyncio
import json

import grpc
import httpx
import numpy as np
import pytest
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

from loyaltylens.propensity.export import model_digest
from tests.model_samples import random_feature_rows
from tests.serving.payloads import MODEL_NAME, as_records, run, valid_record, without

ATOL = 1e-6


def v2_request(
    rows: np.ndarray, binary: bool = False, name: str = "features", datatype: str = "FP32"
) -> InferRequest:
    tensor = InferInput(name=name, shape=list(rows.shape), datatype=datatype)
    tensor.set_data_from_numpy(rows, binary_data=binary)
    return InferRequest(model_name=MODEL_NAME, infer_inputs=[tensor], request_id="req-1")


def rest_infer(base_url: str, protocol: str, data):
    async def call():
        client = InferenceRESTClient(RESTConfig(protocol=protocol, retries=0))
        try:
            return await client.infer(base_url, data, model_name=MODEL_NAME)
        finally:
            await client.close()

    return run(call)


def grpc_infer(target: str, request: InferRequest):
    async def call():
        async with InferenceGRPCClient(target, retries=0) as client:
            return await client.infer(request)

    return run(call)


def assert_still_serving(predictor, contract, reference) -> None:
    """After an error the server must answer a good request correctly, over REST and gRPC."""
    rows = random_feature_rows(contract, 3, seed=99)
    rest = rest_infer(predictor.predictor.http_url, "v2", v2_request(rows)).outputs[0].as_numpy()
    over_grpc = (
        grpc_infer(predictor.predictor.grpc_target, v2_request(rows, binary=True)).outputs[0].as_numpy()
    )
    np.testing.assert_allclose(rest, reference(rows), atol=ATOL)
    np.testing.assert_allclose(over_grpc, reference(rows), atol=ATOL)


def grpc_status(target: str, request: InferRequest) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        grpc_infer(target, request)
    return caught.value.code(), caught.value.details()


# --- health, readiness, metadata -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v2/health/live", "/v2/health/ready", f"/v2/models/{MODEL_NAME}/ready"])
def test_rest_health_endpoints(predictor, path):
    response = httpx.get(predictor.predictor.http_url + path)
    assert response.status_code == 200
    assert True in response.json().values()


def test_grpc_readiness(predictor):
    async def call():
        async with InferenceGRPCClient(predictor.predictor.grpc_target, retries=0) as client:
            return (
                await client.is_server_live(),
                await client.is_server_ready(),
                await client.is_model_ready(MODEL_NAME),
            )

    assert run(call) == (True, True, True)


def test_v2_metadata_describes_the_contract(predictor, contract):
    expected_inputs = [{"name": "features", "datatype": "FP32", "shape": [-1, contract.n_features]}]
    expected_outputs = [{"name": "propensity", "datatype": "FP32", "shape": [-1, 1]}]
    metadata = httpx.get(f"{predictor.predictor.http_url}/v2/models/{MODEL_NAME}").json()
    assert metadata["inputs"] == expected_inputs
    assert metadata["outputs"] == expected_outputs

    with grpc.insecure_channel(predictor.predictor.grpc_target) as channel:
        grpc_metadata = GRPCInferenceServiceStub(channel).ModelMetadata(
            pb.ModelMetadataRequest(name=MODEL_NAME)
        )
    assert [(t.name, t.datatype, list(t.shape)) for t in grpc_metadata.inputs] == [
        ("features", "FP32", [-1, contract.n_features])
    ]
    assert [(t.name, t.datatype, list(t.shape)) for t in grpc_metadata.outputs] == [
        ("propensity", "FP32", [-1, 1])
    ]


def test_v1_model_description_lists_features_and_categories(predictor, contract):
    description = httpx.get(f"{predictor.predictor.http_url}/v1/models/{MODEL_NAME}").json()
    assert description["ready"] is True
    fields = description["feature_contract"]["fields"]
    assert [f["name"] for f in fields] == list(contract.names)
    channel = next(f for f in fields if f["name"] == "channel_preference")
    assert channel["categories"] == ["in_store", "mobile", "web"]
    assert httpx.get(f"{predictor.predictor.http_url}/v1/models/nope").status_code == 404


# --- answers equal the in-process model ----------------------------------------------------------------


def test_v1_records_and_rows_match_reference(predictor, contract, reference):
    rows = random_feature_rows(contract, 16, seed=2)
    expected = reference(rows)[:, 0]
    by_records = rest_infer(predictor.predictor.http_url, "v1", {"instances": as_records(contract, rows)})
    by_rows = rest_infer(predictor.predictor.http_url, "v1", {"instances": rows.tolist()})
    np.testing.assert_allclose(by_records["predictions"], expected, atol=ATOL)
    np.testing.assert_allclose(by_rows["predictions"], expected, atol=ATOL)


def test_v1_accepts_category_codes_in_records(predictor, contract, reference):
    rows = random_feature_rows(contract, 3, seed=3)
    records = [dict(zip(contract.names, map(float, row), strict=True)) for row in rows]
    answer = rest_infer(predictor.predictor.http_url, "v1", {"instances": records})
    np.testing.assert_allclose(answer["predictions"], reference(rows)[:, 0], atol=ATOL)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_v2_rest_matches_reference(predictor, model_dir, contract, reference, binary):
    rows = random_feature_rows(contract, 16, seed=4)
    response = rest_infer(predictor.predictor.http_url, "v2", v2_request(rows, binary))
    output = response.get_output_by_name("propensity")
    assert output.datatype == "FP32" and output.shape == [16, 1]
    np.testing.assert_allclose(output.as_numpy(), reference(rows), atol=ATOL)
    assert response.id == "req-1"
    # Which model scored, as plain JSON: KServe's REST client drops model_version when it parses the answer.
    tensor = {"name": "features", "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}
    url = f"{predictor.predictor.http_url}/v2/models/{MODEL_NAME}/infer"
    answer = httpx.post(url, json={"inputs": [tensor]}).json()
    assert answer["model_version"] == model_digest(model_dir)  # the served file's digest


@pytest.mark.parametrize("binary", [False, True], ids=["fp32_contents", "raw_contents"])
def test_v2_grpc_matches_reference(predictor, model_dir, contract, reference, binary):
    rows = random_feature_rows(contract, 16, seed=5)
    response = grpc_infer(predictor.predictor.grpc_target, v2_request(rows, binary))
    output = response.get_output_by_name("propensity")
    assert output.datatype == "FP32" and list(output.shape) == [16, 1]
    np.testing.assert_allclose(output.as_numpy(), reference(rows), atol=ATOL)
    assert response.model_version == model_digest(model_dir)  # which model scored: its file's digest


def test_concurrent_requests_each_get_their_own_rows(predictor, contract, reference):
    """Micro-batching merges concurrent requests; each must still get exactly its own answers."""
    requests = [random_feature_rows(contract, n, seed=100 + n) for n in range(1, 41)]

    async def call():
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            return await asyncio.gather(
                *(
                    client.infer(predictor.predictor.http_url, v2_request(rows), model_name=MODEL_NAME)
                    for rows in requests
                )
            )
        finally:
            await client.close()

    for rows, response in zip(requests, run(call), strict=True):
        np.testing.assert_allclose(response.outputs[0].as_numpy(), reference(rows), atol=ATOL)


# --- bad payloads: 4xx JSON / INVALID_ARGUMENT naming the problem, server keeps serving ------------------


def _v2_rows_with(contract, column: str, value: float) -> np.ndarray:
    rows = random_feature_rows(contract, 2, seed=6)
    rows[1, contract.names.index(column)] = value
    return rows


V2_BAD_REQUESTS = {
    # case id: (request builder taking (contract, max_batch_size), words the error must contain)
    "wrong shape": (lambda c, m: v2_request(random_feature_rows(c, 2)[:, :-1]), "shape"),
    "INT64 dtype": (
        lambda c, m: v2_request(random_feature_rows(c, 2).astype(np.int64), datatype="INT64"),
        "FP32",
    ),
    "BYTES dtype": (
        lambda c, m: v2_request(np.array([[b"x"] * c.n_features], dtype=object), datatype="BYTES"),
        "FP32",
    ),
    "NaN": (lambda c, m: v2_request(_v2_rows_with(c, "monetary_90d", np.nan)), "monetary_90d"),
    "inf": (lambda c, m: v2_request(_v2_rows_with(c, "tenure_days", np.inf)), "tenure_days"),
    "unknown category code": (lambda c, m: v2_request(_v2_rows_with(c, "segment", 99)), "segment"),
    "out of range": (lambda c, m: v2_request(_v2_rows_with(c, "recency_days", -1)), "recency_days"),
    "oversized batch": (lambda c, m: v2_request(random_feature_rows(c, m + 1)), "exceeds the limit"),
    "wrong input name": (lambda c, m: v2_request(random_feature_rows(c, 2), name="x"), "features"),
}


@pytest.mark.parametrize("case", sorted(V2_BAD_REQUESTS))
def test_v2_rest_rejects_bad_payload(predictor, contract, reference, max_batch_size, case):
    build, words = V2_BAD_REQUESTS[case]
    with pytest.raises(httpx.HTTPStatusError) as caught:
        rest_infer(predictor.predictor.http_url, "v2", build(contract, max_batch_size))
    assert caught.value.response.status_code == 400
    assert words in caught.value.response.json()["error"]
    assert_still_serving(predictor, contract, reference)


@pytest.mark.parametrize("case", sorted(V2_BAD_REQUESTS))
def test_v2_grpc_rejects_bad_payload(predictor, contract, reference, max_batch_size, case):
    build, words = V2_BAD_REQUESTS[case]
    code, details = grpc_status(predictor.predictor.grpc_target, build(contract, max_batch_size))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert words in details
    assert_still_serving(predictor, contract, reference)


def test_v2_grpc_rejects_data_that_does_not_fit_the_shape(predictor, contract):
    request = v2_request(random_feature_rows(contract, 2)).to_grpc()
    request.inputs[0].shape[0] = 3  # declares three rows, carries two
    with grpc.insecure_channel(predictor.predictor.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            GRPCInferenceServiceStub(channel).ModelInfer(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "declared shape" in caught.value.details()


V1_BAD_BODIES = {
    # case id: (raw body builder taking (contract, max_batch_size), words the error must contain)
    "malformed JSON": (lambda c, m: b'{"instances": [', "request format"),
    "missing instances": (lambda c, m: json.dumps({"rows": []}), "instances"),
    "instances not a list": (lambda c, m: json.dumps({"instances": {"a": 1}}), "instances"),
    "empty instances": (lambda c, m: json.dumps({"instances": []}), "empty"),
    "missing feature": (lambda c, m: json.dumps({"instances": [without(valid_record(c), "segment")]}), "segment"),
    "unexpected feature": (lambda c, m: json.dumps({"instances": [valid_record(c, shoe_size=42)]}), "shoe_size"),
    "unknown category label": (
        lambda c, m: json.dumps({"instances": [valid_record(c, channel_preference="fax")]}),
        "fax",
    ),
    "string for a number": (
        lambda c, m: json.dumps({"instances": [valid_record(c, tenure_days="long")]}),
        "tenure_days",
    ),
    "row too short": (lambda c, m: json.dumps({"instances": [[1.0] * (c.n_features - 1)]}), "shape"),
    "unknown category code in a row": (
        lambda c, m: json.dumps({"instances": [[0.0] * (c.n_features - 1) + [99.0]]}),
        "favorite_category",
    ),
    "oversized batch": (
        lambda c, m: json.dumps({"instances": random_feature_rows(c, m + 1).tolist()}),
        "exceeds the limit",
    ),
}


@pytest.mark.parametrize("case", sorted(V1_BAD_BODIES))
def test_v1_rejects_bad_body(predictor, contract, reference, max_batch_size, case):
    build, words = V1_BAD_BODIES[case]
    response = httpx.post(
        f"{predictor.predictor.http_url}/v1/models/{MODEL_NAME}:predict",
        content=build(contract, max_batch_size),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert_still_serving(predictor, contract, reference)


def test_v1_accepts_json_sent_with_curls_default_form_content_type(predictor, contract, reference):
    rows = random_feature_rows(contract, 2, seed=8)
    response = httpx.post(
        f"{predictor.predictor.http_url}/v1/models/{MODEL_NAME}:predict",
        content=json.dumps({"instances": rows.tolist()}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    np.testing.assert_allclose(response.json()["predictions"], reference(rows)[:, 0], atol=ATOL)


@pytest.mark.parametrize(
    "body",
    [b'{"inputs": [', b'{"inputs": "x"}', b"{}", b'{"inputs": [{"name": "features"}]}'],
    ids=["malformed JSON", "inputs not a list", "no inputs", "tensor without shape"],
)
def test_v2_rest_rejects_malformed_body_with_4xx_json(predictor, body):
    response = httpx.post(
        f"{predictor.predictor.http_url}/v2/models/{MODEL_NAME}/infer",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert response.json()  # a JSON error document, not an HTML page or an empty body


def test_v2_rest_nan_literal_in_json_is_rejected(predictor, contract):
    """Python's JSON parser (FastAPI) accepts NaN/Infinity literals; the contract must still refuse them."""
    data = ", ".join("NaN" if i == 3 else "1" for i in range(contract.n_features))
    tensor = {"name": "features", "shape": [1, contract.n_features], "datatype": "FP32", "data": ["ROW"]}
    body = json.dumps({"inputs": [tensor]}).replace('["ROW"]', f"[{data}]")  # json.dumps would quote NaN
    response = httpx.post(
        f"{predictor.predictor.http_url}/v2/models/{MODEL_NAME}/infer",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert contract.names[3] in response.json()["error"]
