"""The feature transformer: customer ids (or (customer, offer) pairs) -> feature store -> predictor, in-process
and as real servers.

Its answers must equal the predictor's for the same customers' features (latest or pinned version), and, with
offer ids, the pair model's for the store's pair rows; unknown customers, offers or versions are 404 /
NOT_FOUND naming them; malformed requests, and pairs sent to a customer-only predictor, are 400 /
INVALID_ARGUMENT.
"""

from __future__ import annotations

from contextlib import ExitStack

import grpc
import httpx
import numpy as np
import pytest
import torch
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.errors import InvalidInput
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub
from kserve.protocol.infer_type import to_http_parameters

from loyaltylens.config import get_settings
from loyaltylens.data import GeneratorConfig, generate_dataset
from loyaltylens.errors import NotFoundError
from loyaltylens.features.definitions import FEATURE_NAMES
from loyaltylens.features.store import FeatureStore
from loyaltylens.local.stack import ServerAddress, start_propensity_stack, transformer_process
from loyaltylens.propensity.export import load_model_dir
from loyaltylens.runtime.errors import ResourceNotFound
from serving.feature_transformer.model import FeatureTransformer
from serving.propensity.model import PropensityModel
from tests.model_samples import export_untrained_model
from tests.serving.payloads import CUSTOMER_IDS, MODEL_NAME, run

ATOL = 1e-6
SOME_IDS = [int(CUSTOMER_IDS[7]), int(CUSTOMER_IDS[0]), int(CUSTOMER_IDS[42])]
PROTOCOLS = ["grpc-v2", "v2"]  # how the transformer calls the predictor


def v2_tensor(name: str, values: list, datatype: str = "INT64") -> InferInput:
    tensor = InferInput(name, [len(values)], datatype)
    tensor.set_data_from_numpy(
        np.asarray(values, dtype=np.float32 if datatype == "FP32" else np.int64), binary_data=False
    )
    return tensor


def ids_request(
    ids: list[int], feature_version: str | None = None, offer_ids: list[int] | None = None
) -> InferRequest:
    tensors = [v2_tensor("customer_ids", ids)]
    if offer_ids is not None:
        tensors.append(v2_tensor("offer_ids", offer_ids))
    parameters = {"feature_version": feature_version} if feature_version else None
    return InferRequest(model_name=MODEL_NAME, infer_inputs=tensors, parameters=parameters, request_id="t-1")


def v1_infer(address: ServerAddress, body: dict) -> dict:
    async def go():
        client = InferenceRESTClient(RESTConfig(protocol="v1", retries=0))
        try:
            return await client.infer(address.http_url, body, model_name=MODEL_NAME)
        finally:
            await client.close()

    return run(go)


def v2_infer(address: ServerAddress, request: InferRequest, over: str):
    """``request`` sent to a server's v2 endpoint ``over`` "rest" or "grpc"."""

    async def go():
        if over == "grpc":
            async with InferenceGRPCClient(address.grpc_target, retries=0) as client:
                return await client.infer(request)
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            return await client.infer(address.http_url, request, model_name=MODEL_NAME)
        finally:
            await client.close()

    return run(go)


@pytest.fixture(scope="module")
def expected(feature_store, reference):
    """Propensities of ``ids`` from a feature version, as the in-process model computes them."""

    def propensities(ids: list[int], version: str = "latest") -> np.ndarray:
        return reference(feature_store.get_features(ids, version).values)[:, 0]

    return propensities


# --- in-process: the transformer calling a predictor object ----------------------------------------------


def in_process_transformer(model_dir, store: FeatureStore) -> FeatureTransformer:
    """A transformer reading ``store`` and calling an in-process predictor of ``model_dir``."""
    settings = get_settings()
    predictor = PropensityModel(
        MODEL_NAME, model_dir, settings.tracking_uri, settings.models_dir, settings.max_batch_size
    )
    predictor.load()
    transformer = FeatureTransformer(MODEL_NAME, store, settings.max_batch_size, predictor=predictor)
    assert transformer.load() and transformer.ready
    return transformer


@pytest.fixture(scope="module")
def in_process(model_dir, feature_store) -> FeatureTransformer:
    return in_process_transformer(model_dir, feature_store)


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
    with pytest.raises(InvalidInput, match="INT64"):
        call(in_process, InferRequest(model_name=MODEL_NAME, infer_inputs=[v2_tensor("customer_ids", [1.0], "FP32")]))


# --- real servers: transformer process -> predictor process ----------------------------------------------


def predictor_answer(predictor, feature_store, ids: list[int], version: str = "latest") -> np.ndarray:
    """The predictor server's own answer for these customers' stored features."""
    features = feature_store.get_features(ids, version).values
    tensor = InferInput("features", list(features.shape), "FP32")
    tensor.set_data_from_numpy(features, binary_data=False)
    request = InferRequest(model_name=MODEL_NAME, infer_inputs=[tensor])
    return v2_infer(predictor.predictor, request, "rest").outputs[0].as_numpy()[:, 0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_transformer_v1_equals_predictor(transformers, predictor, feature_store, protocol):
    answer = v1_infer(transformers[protocol], {"customer_ids": SOME_IDS})
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
    response = v2_infer(transformers[protocol], ids_request(SOME_IDS, "v0001"), "grpc")
    assert response.get_output_by_name("customer_ids").as_numpy().tolist() == SOME_IDS
    np.testing.assert_allclose(
        response.get_output_by_name("propensity").as_numpy()[:, 0],
        predictor_answer(predictor, feature_store, SOME_IDS, "v0001"),
        atol=ATOL,
    )


def test_transformer_v2_rest_equals_predictor(transformers, predictor, feature_store):
    response = v2_infer(transformers["v2"], ids_request(SOME_IDS), "rest")
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
    with pytest.raises(grpc.RpcError) as caught:
        v2_infer(transformers["grpc-v2"], ids_request([SOME_IDS[0], 5]), "grpc")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "5" in caught.value.details()


def test_transformer_describes_its_inputs_and_outputs(transformers):
    described = httpx.get(f"{transformers['v2'].http_url}/v2/models/{MODEL_NAME}").json()
    assert [(t["name"], t["datatype"]) for t in described["inputs"]] == [
        ("customer_ids", "INT64"),
        ("offer_ids", "INT64"),
    ]
    assert [t["name"] for t in described["outputs"]] == ["customer_ids", "offer_ids", "propensity"]
    with grpc.insecure_channel(transformers["v2"].grpc_target) as channel:
        metadata = GRPCInferenceServiceStub(channel).ModelMetadata(pb.ModelMetadataRequest(name=MODEL_NAME))
    assert [t.name for t in metadata.inputs] == ["customer_ids", "offer_ids"]


# --- (customer, offer) pairs: a store built from a generated dataset, a predictor serving the pair model -----

PAIR_DATASET = GeneratorConfig(n_customers=300, n_days=60, seed=5, n_offers=20)
EARLY_AS_OF = "2025-12-01"  # v0001; v0002 is built at the dataset's end
PAIR_CUSTOMERS = [7, 1, 42, 7]  # a customer may be scored with several offers


@pytest.fixture(scope="module")
def pair_store(tmp_path_factory) -> FeatureStore:
    """Two versions (as of EARLY_AS_OF and the dataset's end) with offer tables, from a generated dataset."""
    root = tmp_path_factory.mktemp("pair-store")
    dataset = generate_dataset(PAIR_DATASET, root / "dataset").path
    store = FeatureStore.at(root / "feature_store")
    store.build(dataset, as_of=EARLY_AS_OF)
    store.build(dataset)
    assert store.describe().has_offer_tables
    return store


@pytest.fixture(scope="module")
def pair_offers(pair_store) -> list[int]:
    """Offer ids, one for each of PAIR_CUSTOMERS, known to both versions."""
    offers = pair_store.get_offers("v0001")["offer_id"].tolist()
    assert len(offers) >= 4
    return [int(offers[3]), int(offers[0]), int(offers[-1]), int(offers[0])]


@pytest.fixture(scope="module")
def pair_model_dir(tmp_path_factory):
    return export_untrained_model(tmp_path_factory.mktemp("pair-model"), feature_version="pairs-v1", pairs=True)


@pytest.fixture(scope="module")
def expected_pairs(pair_model_dir, pair_store):
    """Propensities of (customer, offer) pairs: the store's pair rows scored by the TorchScript model here."""
    module, _ = load_model_dir(pair_model_dir)

    def propensities(customers: list[int], offers: list[int], version: str = "latest") -> np.ndarray:
        rows = pair_store.get_pair_features(customers, offers, version).values
        with torch.inference_mode():
            return module(torch.from_numpy(np.ascontiguousarray(rows))).numpy()[:, 0]

    return propensities


@pytest.fixture(scope="module")
def in_process_pairs(pair_model_dir, pair_store) -> FeatureTransformer:
    return in_process_transformer(pair_model_dir, pair_store)


def test_in_process_v1_pairs_score_latest_and_pinned_versions(in_process_pairs, pair_offers, expected_pairs):
    latest = call(in_process_pairs, {"customer_ids": PAIR_CUSTOMERS, "offer_ids": pair_offers})
    assert latest["feature_version"] == "v0002"
    assert [(p["customer_id"], p["offer_id"]) for p in latest["predictions"]] == list(
        zip(PAIR_CUSTOMERS, pair_offers, strict=True)
    )
    np.testing.assert_allclose(
        [p["propensity"] for p in latest["predictions"]], expected_pairs(PAIR_CUSTOMERS, pair_offers), atol=ATOL
    )
    pinned = call(
        in_process_pairs, {"customer_ids": PAIR_CUSTOMERS, "offer_ids": pair_offers, "feature_version": "v0001"}
    )
    assert pinned["feature_version"] == "v0001"
    early = expected_pairs(PAIR_CUSTOMERS, pair_offers, "v0001")
    np.testing.assert_allclose([p["propensity"] for p in pinned["predictions"]], early, atol=ATOL)
    assert not np.allclose(early, expected_pairs(PAIR_CUSTOMERS, pair_offers))  # the versions really differ


def test_in_process_v2_pairs_answer_both_ids(in_process_pairs, pair_offers, expected_pairs):
    response = call(in_process_pairs, ids_request(PAIR_CUSTOMERS, offer_ids=pair_offers))
    assert response.get_output_by_name("customer_ids").as_numpy().tolist() == PAIR_CUSTOMERS
    assert response.get_output_by_name("offer_ids").as_numpy().tolist() == pair_offers
    np.testing.assert_allclose(
        response.get_output_by_name("propensity").as_numpy()[:, 0],
        expected_pairs(PAIR_CUSTOMERS, pair_offers),
        atol=ATOL,
    )
    assert response.parameters["feature_version"] == "v0002"


def test_in_process_customer_ids_alone_are_customer_rows(in_process, feature_store):
    """Without offer ids nothing changes, and no offer table is needed (this store has none)."""
    assert not feature_store.describe().has_offer_tables
    answer = call(in_process, ids_request(SOME_IDS))
    assert answer.get_output_by_name("offer_ids") is None
    assert [o.name for o in answer.outputs] == ["customer_ids", "propensity"]
    assert "offer_id" not in call(in_process, {"customer_ids": SOME_IDS})["predictions"][0]


@pytest.mark.parametrize(
    "body, words",
    [
        ({"customer_ids": [1, 2], "offer_ids": [1]}, "offer_ids: got 1 id(s) for 2 customer_ids"),
        ({"customer_ids": [1], "offer_ids": []}, "offer_ids: got 0 id(s) for 1"),
        ({"customer_ids": [1], "offer_ids": [1.5]}, '"offer_ids" must be a list of integers'),
        ({"customer_ids": [1], "offer_ids": ["1"]}, '"offer_ids" must be a list of integers'),
        ({"customer_ids": [1], "offer_ids": 1}, '"offer_ids" must be a list of integers'),
        ({"customer_ids": [1], "offer_ids": None}, '"offer_ids" must be a list of integers'),
        ({"customer_ids": [1], "offer_ids": [2**63]}, "signed 64-bit"),
        ({"customer_ids": [1], "offer_id": [1]}, "unexpected field(s) ['offer_id']"),
    ],
    ids=["fewer offers", "no offers", "float", "string", "not a list", "null", "too large", "misspelt"],
)
def test_in_process_malformed_pairs_are_invalid(in_process_pairs, body, words):
    with pytest.raises(InvalidInput) as caught:
        call(in_process_pairs, body)
    assert words in caught.value.reason


@pytest.mark.parametrize(
    "inputs, words",
    [
        ([v2_tensor("customer_ids", [1, 2]), v2_tensor("offer_ids", [1])], "offer_ids: got 1 id(s) for 2"),
        ([v2_tensor("customer_ids", [1]), v2_tensor("offer_ids", [1.0], "FP32")], "offer_ids: datatype must be INT64"),
        ([v2_tensor("customer_ids", [1]), v2_tensor("offers", [1])], "got ['customer_ids', 'offers']"),
        ([v2_tensor("offer_ids", [1])], "expected an input tensor named 'customer_ids'"),
        ([v2_tensor("customer_ids", [1]), v2_tensor("customer_ids", [2])], "got ['customer_ids', 'customer_ids']"),
        ([InferInput("customer_ids", [1], "INT64", data=[1.5])], "customer_ids: ids must be integers"),
    ],
    ids=["fewer offers", "float offers", "unexpected input", "offers only", "customer ids twice", "float data"],
)
def test_in_process_v2_malformed_pairs_are_invalid(in_process_pairs, inputs, words):
    with pytest.raises(InvalidInput) as caught:
        call(in_process_pairs, InferRequest(model_name=MODEL_NAME, infer_inputs=inputs))
    assert words in caught.value.reason


@pytest.mark.parametrize(
    "body, words",
    [
        ({"customer_ids": [1, 2], "offer_ids": [1, 999_999]}, "unknown offer id(s) [999999]"),
        ({"customer_ids": [1, 999_999], "offer_ids": [1, 1]}, "unknown customer id(s) 999999"),
        ({"customer_ids": [1], "offer_ids": [1], "feature_version": "v0099"}, "v0099"),
    ],
    ids=["unknown offer", "unknown customer", "unknown version"],
)
def test_in_process_unknown_pairs_are_not_found(in_process_pairs, body, words):
    with pytest.raises(ResourceNotFound) as caught:
        call(in_process_pairs, body)
    assert words in caught.value.reason


def test_in_process_pairs_need_a_version_with_offer_tables(in_process):
    with pytest.raises(ResourceNotFound, match="without offer tables"):
        call(in_process, {"customer_ids": SOME_IDS, "offer_ids": [1, 2, 3]})


def test_in_process_customer_predictor_refuses_pairs_readably(model_dir, pair_store, pair_offers):
    transformer = in_process_transformer(model_dir, pair_store)  # customer contract, pair-capable store
    assert len(call(transformer, {"customer_ids": PAIR_CUSTOMERS})["predictions"]) == len(PAIR_CUSTOMERS)
    with pytest.raises(InvalidInput) as caught:
        call(transformer, {"customer_ids": PAIR_CUSTOMERS, "offer_ids": pair_offers})
    assert "seems to serve a customer-only model" in caught.value.reason
    assert f"shape must be [N, {len(FEATURE_NAMES)}]" in caught.value.reason


@pytest.fixture(scope="module")
def pair_transformers(pair_model_dir, pair_store, tmp_path_factory) -> dict[str, ServerAddress]:
    """The pair-model predictor and feature transformers in front of it over each predictor protocol, all
    real processes reading ``pair_store``."""
    log_dir = tmp_path_factory.mktemp("pair-logs")
    with ExitStack() as running:
        stack = running.enter_context(
            start_propensity_stack(
                pair_model_dir, log_dir, model_name=MODEL_NAME, predictor_protocol="grpc-v2", feature_store=pair_store
            )
        )
        over_rest = ServerAddress.free()
        running.enter_context(
            transformer_process(
                stack.predictor.http_host, over_rest, log_dir / "transformer-v2.log", MODEL_NAME, "v2", pair_store
            )
        )
        yield {"grpc-v2": stack.transformer, "v2": over_rest}


@pytest.fixture(scope="module")
def customer_model_transformers(predictor, pair_store, tmp_path_factory) -> dict[str, ServerAddress]:
    """Transformers reading ``pair_store`` in front of the customer-contract predictor, over each protocol."""
    log_dir = tmp_path_factory.mktemp("customer-model-logs")
    hosts = {"grpc-v2": predictor.predictor.grpc_target, "v2": predictor.predictor.http_host}
    addresses = {protocol: ServerAddress.free() for protocol in hosts}
    with ExitStack() as running:
        for protocol, host in hosts.items():
            running.enter_context(
                transformer_process(
                    host, addresses[protocol], log_dir / f"{protocol}.log", MODEL_NAME, protocol, pair_store
                )
            )
        yield addresses


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_transformer_v1_pairs_equal_the_pair_model(pair_transformers, pair_offers, expected_pairs, protocol):
    answer = v1_infer(pair_transformers[protocol], {"customer_ids": PAIR_CUSTOMERS, "offer_ids": pair_offers})
    assert answer["feature_version"] == "v0002"
    assert [(p["customer_id"], p["offer_id"]) for p in answer["predictions"]] == list(
        zip(PAIR_CUSTOMERS, pair_offers, strict=True)
    )
    np.testing.assert_allclose(
        [p["propensity"] for p in answer["predictions"]], expected_pairs(PAIR_CUSTOMERS, pair_offers), atol=ATOL
    )


@pytest.mark.parametrize("over", ["rest", "grpc"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_transformer_v2_pairs_equal_the_pair_model(
    pair_transformers, pair_offers, expected_pairs, protocol, over
):
    response = v2_infer(
        pair_transformers[protocol], ids_request(PAIR_CUSTOMERS, "v0001", offer_ids=pair_offers), over
    )
    assert response.get_output_by_name("customer_ids").as_numpy().tolist() == PAIR_CUSTOMERS
    assert response.get_output_by_name("offer_ids").as_numpy().tolist() == pair_offers
    np.testing.assert_allclose(
        response.get_output_by_name("propensity").as_numpy()[:, 0],
        expected_pairs(PAIR_CUSTOMERS, pair_offers, "v0001"),
        atol=ATOL,
    )
    assert to_http_parameters(response.parameters)["feature_version"] == "v0001"  # gRPC: InferParameter


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"customer_ids": [1, 2], "offer_ids": [1]}, 400, "offer_ids: got 1 id(s) for 2 customer_ids"),
        ({"customer_ids": [1], "offer_ids": ["1"]}, 400, '"offer_ids" must be a list of integers'),
        ({"customer_ids": [1, 2], "offer_ids": [1, 999_999]}, 404, "unknown offer id(s) [999999]"),
        ({"customer_ids": [999_999], "offer_ids": [1]}, 404, "unknown customer id(s) 999999"),
        ({"customer_ids": [1, 2]}, 400, "if it serves the offer-aware model, send offer_ids too"),
    ],
    ids=["fewer offers", "string offer", "unknown offer", "unknown customer", "no offers for the pair model"],
)
def test_transformer_pair_errors_over_rest(pair_transformers, body, status, words):
    url = f"{pair_transformers['v2'].http_url}/v1/models/{MODEL_NAME}:predict"
    response = httpx.post(url, json=body)
    assert response.status_code == status
    assert words in response.json()["error"]
    assert httpx.post(url, json={"customer_ids": [1], "offer_ids": [1]}).status_code == 200  # still serving


@pytest.mark.parametrize(
    "request_, code, words",
    [
        (ids_request([1, 2], offer_ids=[1]), grpc.StatusCode.INVALID_ARGUMENT, "offer_ids: got 1 id(s) for 2"),
        (ids_request([1, 2], offer_ids=[1, 999_999]), grpc.StatusCode.NOT_FOUND, "unknown offer id(s) [999999]"),
        (ids_request([1, 2]), grpc.StatusCode.INVALID_ARGUMENT, "send offer_ids too"),
    ],
    ids=["fewer offers", "unknown offer", "no offers for the pair model"],
)
def test_transformer_pair_errors_over_grpc(pair_transformers, request_, code, words):
    with pytest.raises(grpc.RpcError) as caught:
        v2_infer(pair_transformers["grpc-v2"], request_, "grpc")
    assert caught.value.code() == code
    assert words in caught.value.details()


@pytest.mark.parametrize(
    "offer_tensor, words",
    [
        ({"datatype": "INT64", "shape": [1], "data": [1.5]}, "offer_ids: ids must be integers"),
        ({"datatype": "INT64", "shape": [1], "data": ["1"]}, "offer_ids: ids must be integers"),
        ({"datatype": "INT64", "shape": [2], "data": [1]}, "offer_ids: data does not fit the declared shape"),
        ({"datatype": "INT64", "shape": [1, 2], "data": [1, 2]}, "offer_ids: shape must be [N] or [N, 1]"),
    ],
    ids=["float data", "string data", "data short of its shape", "matrix"],
)
def test_transformer_v2_rest_rejects_offer_ids_that_are_not_an_id_list(pair_transformers, offer_tensor, words):
    body = {
        "inputs": [
            {"name": "customer_ids", "datatype": "INT64", "shape": [1], "data": [1]},
            {"name": "offer_ids", **offer_tensor},
        ]
    }
    response = httpx.post(f"{pair_transformers['v2'].http_url}/v2/models/{MODEL_NAME}/infer", json=body)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]


def test_transformer_v2_rest_rejects_float_offer_ids(pair_transformers):
    request = InferRequest(
        model_name=MODEL_NAME, infer_inputs=[v2_tensor("customer_ids", [1]), v2_tensor("offer_ids", [1.0], "FP32")]
    )
    with pytest.raises(httpx.HTTPStatusError) as caught:
        v2_infer(pair_transformers["v2"], request, "rest")
    assert caught.value.response.status_code == 400
    assert "offer_ids: datatype must be INT64" in caught.value.response.json()["error"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_customer_model_behind_a_pair_store(customer_model_transformers, pair_offers, protocol):
    """Customer ids alone are scored as before; offer ids are refused as 400 naming the cause."""
    address = customer_model_transformers[protocol]
    url = f"{address.http_url}/v1/models/{MODEL_NAME}:predict"
    assert len(httpx.post(url, json={"customer_ids": PAIR_CUSTOMERS}).json()["predictions"]) == len(PAIR_CUSTOMERS)
    response = httpx.post(url, json={"customer_ids": PAIR_CUSTOMERS, "offer_ids": pair_offers})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "seems to serve a customer-only model" in error and f"shape must be [N, {len(FEATURE_NAMES)}]" in error
    with pytest.raises(grpc.RpcError) as caught:
        v2_infer(address, ids_request(PAIR_CUSTOMERS, offer_ids=pair_offers), "grpc")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "seems to serve a customer-only model" in caught.value.details()
