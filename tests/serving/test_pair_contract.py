"""The offer-aware contract served by the real KServe predictor: a v2 tensor of (customer, offer) pair rows,
v1 records carrying customer and offer fields; malformed pairs are rejected naming the problem."""

from __future__ import annotations

import json

import grpc
import httpx
import numpy as np
import pytest
import torch

from loyaltylens.features.definitions import FEATURE_NAMES
from loyaltylens.local.stack import start_propensity_stack
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.export import load_model_dir
from tests.model_samples import export_untrained_model, random_feature_rows
from tests.serving.payloads import MODEL_NAME, as_records, valid_record, without
from tests.serving.test_propensity_server import grpc_infer, grpc_status, rest_infer, v2_request

ATOL = 1e-6


@pytest.fixture(scope="module")
def pair_model_dir(tmp_path_factory):
    return export_untrained_model(tmp_path_factory.mktemp("pair-model"), feature_version="pairs-v1", pairs=True)


@pytest.fixture(scope="module")
def pairs(pair_model_dir) -> FeatureContract:
    return FeatureContract.load(pair_model_dir)


@pytest.fixture(scope="module")
def pair_reference(pair_model_dir):
    module, _ = load_model_dir(pair_model_dir)

    def predict(rows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))).numpy()

    return predict


@pytest.fixture(scope="module")
def pair_predictor(pair_model_dir, tmp_path_factory):
    with start_propensity_stack(pair_model_dir, tmp_path_factory.mktemp("logs"), with_transformer=False) as stack:
        yield stack


def test_the_served_contract_is_the_pair_contract(pair_predictor, pairs):
    described = httpx.get(f"{pair_predictor.predictor.http_url}/v2/models/{MODEL_NAME}").json()
    assert described["inputs"][0]["shape"] == [-1, len(pairs.fields)]
    assert pairs.names == FeatureContract.for_pairs().names
    assert {"offer_channel", "discount_pct", "category_share_365d"} <= set(pairs.names)


def test_v1_records_with_customer_and_offer_fields_and_v2_pair_rows_match_reference(
    pair_predictor, pairs, pair_reference
):
    rows = random_feature_rows(pairs, 12, seed=3)
    expected = pair_reference(rows)
    by_records = rest_infer(pair_predictor.predictor.http_url, "v1", {"instances": as_records(pairs, rows)})
    np.testing.assert_allclose(by_records["predictions"], expected[:, 0], atol=ATOL)
    over_rest = rest_infer(pair_predictor.predictor.http_url, "v2", v2_request(rows)).outputs[0].as_numpy()
    over_grpc = grpc_infer(pair_predictor.predictor.grpc_target, v2_request(rows, binary=True)).outputs[0].as_numpy()
    np.testing.assert_allclose(over_rest, expected, atol=ATOL)
    np.testing.assert_allclose(over_grpc, expected, atol=ATOL)


MALFORMED_PAIR_RECORDS = {
    "customer fields only": (lambda c: {k: v for k, v in valid_record(c).items() if k in FEATURE_NAMES}, "offer"),
    "missing offer channel": (lambda c: without(valid_record(c), "offer_channel"), "offer_channel"),
    "unknown offer channel": (lambda c: valid_record(c, offer_channel="fax"), "fax"),
    "discount over 100": (lambda c: valid_record(c, discount_pct=140.0), "discount_pct"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_PAIR_RECORDS))
def test_v1_rejects_malformed_pairs(pair_predictor, pairs, case):
    build, words = MALFORMED_PAIR_RECORDS[case]
    response = httpx.post(
        f"{pair_predictor.predictor.http_url}/v1/models/{MODEL_NAME}:predict",
        content=json.dumps({"instances": [build(pairs)]}),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert words in response.json()["error"]


def test_v2_rejects_customer_only_rows_and_bad_offer_codes(pair_predictor, pairs):
    customer_only = random_feature_rows(pairs, 2)[:, : len(FEATURE_NAMES)]
    with pytest.raises(httpx.HTTPStatusError) as caught:
        rest_infer(pair_predictor.predictor.http_url, "v2", v2_request(customer_only))
    assert caught.value.response.status_code == 400 and "shape" in caught.value.response.json()["error"]
    bad_category = random_feature_rows(pairs, 2)
    bad_category[1, pairs.names.index("offer_category")] = 42
    code, details = grpc_status(pair_predictor.predictor.grpc_target, v2_request(bad_category))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "offer_category" in details
