"""The feature transformer: customer ids -> feature store -> predictor, in-process and as real servers.

Its answers must equal the predictor's for the same customers' features (latest or pinned version);
unknown customers or versions are 404 / NOT_FOUND naming them; malformed requests are 400 / INVALID_ARGUMENT.
"""

from __future__ import annotations

import grpc
import httpx
import numpy as np
import pytest
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.errors import InvalidInput

from loyaltylens.config import get_settings
from loyaltylens.errors import NotFoundError
from loyaltylens.features.store import FeatureStore
from loyaltylens.runtime.errors import ResourceNotFound
from serving.feature_transformer.model import FeatureTransformer
from serving.propensity.model import PropensityModel
from tests.serving.payloads import CUSTOMER_IDS, MODEL_NAME, run

ATOL = 1e-6
SOME_IDS = [int(CUSTOMER_IDS[7]), int(CUSTOMER_IDS[0]), int(CUSTOMER_IDS[42])]
PROTOCOLS = ["grpc-v2", "v2"]  # how the transformer calls the predictor


def ids_request(ids: list[int], feature_version: str | None = None) -> InferRequest:
    tensor = InferInput("customer_ids", [len(ids)], "INT64")
    tensor.set_data_from_numpy(np.asarray(ids, dtype=np.int64), binary_data=False)
    parameters = {"feature_version": feature_version} if feature_version else None
    return InferRequest(model_name=MODEL_NAME, infer_inputs=[tensor], parameters=parameters, request_id="t-1")


@pytest.fixture(scope="module")
def expected(feature_store, reference):
    """Propensities of ``ids`` from a feature version, as the in-process model computes them."""

    def propensities(ids: list[int], version: str = "latest") -> np.ndarray:
        return reference(feature_store.get_features(ids, version).values)[:, 0]

    return propensities


# --- in-process: the transformer calling a predictor object ----------------------------------------------


@pytest.fixture(scope="module")
def in_process(model_dir, feature_store) -> FeatureTransformer:
    settings = get_settings()
    predictor = PropensityModel(
        MODEL_NAME, model_dir, settings.tracking_uri, settings.models_dir, settings.max_batch_size
    )
    predictor.load()
    transformer = FeatureTransformer(MODEL_NAME, feature_store, settings.max_batch_size, predictor=predictor)
    assert transformer.load() and transformer.ready
    return transformer


def test_transformer_does_not_start_on_an_empty_store(tmp_path):
    transformer = FeatureTransformer(MODEL_NAME, FeatureStore.at(tmp_path), max_batch_size=8)
    with pytest.raises(NotFoundError, match="no versions"):
        transformer.load()
    assert not transformer.ready


def call(transformer: FeatureTransformer, body):
    async def go():
        response, _ = await transformer(body)
        return response

    return run(go)


def test_in_process_v1_scores_latest_and_pinned_versions(in_process, expected):
    latest = call(in_process, {"customer_ids": SOME_IDS})
    assert latest["feature_version"] == "v0002"
    assert [p["customer_id"] for p in latest["predictions"]] == SOME_IDS
    np.testing.assert_allclose(
        [p["propensity"] for p in latest["predictions"]], expected(SOME_IDS), atol=ATOL
    )

    pinned = call(in_process, {"customer_ids": SOME_IDS, "feature_version": "v0001"})
    assert pinned["feature_version"] == "v0001"
    np.testing.assert_allclose(
        [p["propensity"] for p in pinned["predictions"]], expected(SOME_IDS, "v0001"), atol=ATOL
    )
    assert not np.allclose(expected(SOME_IDS, "v0001"), expected(SOME_IDS))  # the versions really differ


def test_in_process_v2_answers_ids_and_propensities(in_process, expected):
    response = call(in_process, ids_request(SOME_IDS, "v0001"))
    assert response.get_output_by_name("customer_ids").as_numpy().tolist() == SOME_IDS
    propensity = response.get_output_by_name("propensity").as_numpy()
    np.testing.assert_allclose(propensity[:, 0], expected(SOME_IDS, "v0001"), atol=ATOL)
    assert response.parameters["feature_version"] == "v0001"


@pytest.mark.parametrize(
    "body, words",
    [
        ({"customer_ids": [SOME_IDS[0], 5, 6]}, "5, 6"),
        ({"customer_ids": SOME_IDS, "feature_version": "v0099"}, "v0099"),
    ],
    ids=["unknown customers", "unknown version"],
)
def test_in_process_unknown_customers_or_version_are_not_found(in_process, body, words):
    with pytest.raises(ResourceNotFound, match=words):
        call(in_process, body)


@pytest.mark.parametrize(
    "body, words",
    [
        ({"ids": [1]}, "customer_ids"),
        ({"customer_ids": []}, "empty"),
        ({"customer_ids": [1.5]}, "integers"),
        ({"customer_ids": ["1"]}, "integers"),
        ({"customer_ids": [1], "feature_version": 3}, "feature_version"),
        ({"customer_ids": [1], "colour": "red"}, "colour"),
        ({"customer_ids": list(range(get_settings().max_batch_size + 1))}, "exceeds the limit"),
    ],
    ids=[
        "no customer_ids",
        "empty",
        "float id",
        "string id",
        "version not a string",
        "extra field",
        "too many",
    ],
)
def test_in_process_malformed_requests_are_invalid(in_process, body, words):
    with pytest.raises(InvalidInput, match=words):
        call(in_process, body)


def test_in_process_v2_rejects_wrong_dtype(in_process):
    tensor = InferInput("customer_ids", [1], "FP32")
    tensor.set_data_from_numpy(np.array([1.0], dtype=np.float32), binary_data=False)
    with pytest.raises(InvalidInput, match="INT64"):
        call(in_process, InferRequest(model_name=MODEL_NAME, infer_inputs=[tensor]))


# --- real servers: transformer process -> predictor process ----------------------------------------------


def predictor_answer(predictor, feature_store, ids: list[int], version: str = "latest") -> np.ndarray:
    """The predictor server's own answer for these customers' stored features."""
    features = feature_store.get_features(ids, version).values
    tensor = InferInput("features", list(features.shape), "FP32")
    tensor.set_data_from_numpy(features, binary_data=False)

    async def go():
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            request = InferRequest(model_name=MODEL_NAME, infer_inputs=[tensor])
            return await client.infer(predictor.predictor.http_url, request, model_name=MODEL_NAME)
        finally:
            await client.close()

    return run(go).outputs[0].as_numpy()[:, 0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_transformer_v1_equals_predictor(transformers, predictor, feature_store, protocol):
    address = transformers[protocol]

    async def go():
        client = InferenceRESTClient(RESTConfig(protocol="v1", retries=0))
        try:
            return await client.infer(address.http_url, {"customer_ids": SOME_IDS}, model_name=MODEL_NAME)
        finally:
            await client.close()

    answer = run(go)
    assert answer["feature_version"] == "v0002"
    assert [p["customer_id"] for p in answer["predictions"]] == SOME_IDS
    np.testing.assert_allclose(
        [p["propensity"] for p in answer["predictions"]],
        predictor_answer(predictor, feature_store, SOME_IDS),
        atol=ATOL,
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_transformer_v2_grpc_with_pinned_version_equals_predictor(
    transformers, predictor, feature_store, protocol
):
    async def go():
        async with InferenceGRPCClient(transformers[protocol].grpc_target, retries=0) as client:
            return await client.infer(ids_request(SOME_IDS, "v0001"))

    response = run(go)
    assert response.get_output_by_name("customer_ids").as_numpy().tolist() == SOME_IDS
    np.testing.assert_allclose(
        response.get_output_by_name("propensity").as_numpy()[:, 0],
        predictor_answer(predictor, feature_store, SOME_IDS, "v0001"),
        atol=ATOL,
    )


def test_transformer_v2_rest_equals_predictor(transformers, predictor, feature_store):
    async def go():
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            return await client.infer(
                transformers["v2"].http_url, ids_request(SOME_IDS), model_name=MODEL_NAME
            )
        finally:
            await client.close()

    response = run(go)
    np.testing.assert_allclose(
        response.get_output_by_name("propensity").as_numpy()[:, 0],
        predictor_answer(predictor, feature_store, SOME_IDS),
        atol=ATOL,
    )


@pytest.mark.parametrize("path", ["/v2/health/live", "/v2/health/ready", f"/v2/models/{MODEL_NAME}/ready"])
def test_transformer_readiness(transformers, path):
    assert httpx.get(transformers["grpc-v2"].http_url + path).status_code == 200


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"customer_ids": [SOME_IDS[0], 5, 6]}, 404, "5, 6"),
        ({"customer_ids": SOME_IDS, "feature_version": "v0099"}, 404, "v0099"),
        ({"customer_ids": "all"}, 400, "customer_ids"),
    ],
    ids=["unknown customers", "unknown version", "malformed"],
)
def test_transformer_errors_over_rest(transformers, body, status, words):
    url = f"{transformers['grpc-v2'].http_url}/v1/models/{MODEL_NAME}:predict"
    response = httpx.post(url, json=body)
    assert response.status_code == status
    assert words in response.json()["error"]
    assert httpx.post(url, json={"customer_ids": SOME_IDS}).status_code == 200  # still serving


def test_transformer_unknown_customer_over_grpc_is_not_found(transformers):
    async def go():
        async with InferenceGRPCClient(transformers["grpc-v2"].grpc_target, retries=0) as client:
            return await client.infer(ids_request([SOME_IDS[0], 5]))

    with pytest.raises(grpc.RpcError) as caught:
        run(go)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "5" in caught.value.details()
