"""TorchServe serving the exported propensity model: archive, real server on loopback, tokens, errors.

One TorchServe instance (Java frontend + Python workers) serves a random-weight model for the whole module;
its answers must equal the in-process TorchScript model's, bad bodies must get HTTP 400 with a message
naming the problem while the server keeps serving, and stopping it must leave no process behind.
The model, its contract and the in-process reference come from the serving conftest, so the same model is
also served by the KServe predictor there and both servers' answers are compared.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from loyaltylens.errors import InvalidInputError
from loyaltylens.local.torchserve import TorchServeServer, find_java_home
from loyaltylens.propensity.torchserve import DEFAULT_MODEL_NAME, KSERVE_MODEL_STORE, build_archive, kserve_layout
from tests.model_samples import random_feature_rows
from tests.serving.payloads import as_records, valid_record, without

pytest.importorskip("ts", reason="TorchServe is not installed (pip install 'loyaltylens[torchserve]')")

pytestmark = [
    pytest.mark.torchserve,
    pytest.mark.skipif(find_java_home() is None, reason="TorchServe needs Java 17: no java on PATH or JAVA_HOME"),
]

MODEL_NAME = DEFAULT_MODEL_NAME
ATOL = 1e-6
TOKEN_REJECTED = "InvalidKeyException"  # TorchServe 0.12 answers a missing or wrong key: 400 with this type


@contextmanager
def serving(model_dir: Path, workdir: Path) -> Iterator[TorchServeServer]:
    """TorchServe serving ``model_dir`` on free loopback ports; after it stops, none of its processes may be
    left running. Shared with the pair-contract module (``test_torchserve_pairs``)."""
    server = TorchServeServer(model_dir, workdir)
    with server:
        processes = server.processes()
        assert "java" in {p.name() for p in processes}
        yield server
    _, alive = psutil.wait_procs(processes, timeout=0)
    assert alive == [], f"processes left after stop: {alive}"
    assert not (server.workdir / "key_file.json").exists()


@pytest.fixture(scope="module")
def torchserve(model_dir, tmp_path_factory):
    with serving(model_dir, tmp_path_factory.mktemp("torchserve")) as server:
        yield server


def post(server: TorchServeServer, body: bytes | str) -> httpx.Response:
    headers = {**server.inference_headers, "content-type": "application/json"}
    return httpx.post(server.inference_url, content=body, headers=headers)


# --- archive and KServe layout (no server) ---------------------------------------------------------------


def test_archive_holds_model_contract_and_handler(model_dir, tmp_path):
    archive = build_archive(model_dir, tmp_path, model_name=MODEL_NAME, version="3.1")
    assert archive == tmp_path / f"{MODEL_NAME}.mar"
    with zipfile.ZipFile(archive) as mar:
        names = set(mar.namelist())
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))
    assert {"model.pt", "feature_contract.json", "handler.py"} <= names
    expected = {"modelName": MODEL_NAME, "modelVersion": "3.1", "serializedFile": "model.pt", "handler": "handler.py"}
    assert {key: manifest["model"].get(key) for key in expected} == expected


def test_kserve_layout_has_config_and_model_store(model_dir, tmp_path):
    root = kserve_layout(model_dir, tmp_path / "kserve")
    assert (root / "model-store" / f"{MODEL_NAME}.mar").is_file()
    properties = dict(line.split("=", 1) for line in (root / "config" / "config.properties").read_text().splitlines())
    assert properties["model_store"] == KSERVE_MODEL_STORE
    snapshot = json.loads(properties["model_snapshot"])
    assert snapshot["models"][MODEL_NAME]["1.0"]["marName"] == f"{MODEL_NAME}.mar"
    assert properties["inference_address"].startswith("http://127.0.0.1:")
    # The kserve wrapper reads readiness from the management API without a key (pytorch/serve#3301).
    assert properties["disable_token_authorization"] == "true"
    assert snapshot["models"][MODEL_NAME]["1.0"]["batchSize"] == 1


# --- answers equal the in-process model --------------------------------------------------------------------


def test_records_and_rows_match_reference(torchserve, contract, reference):
    rows = random_feature_rows(contract, 16, seed=2)
    expected = reference(rows)[:, 0]
    assert np.ptp(expected) > 1e-3  # the rows get different answers, so matching them means something
    np.testing.assert_allclose(torchserve.predict(as_records(contract, rows)), expected, atol=ATOL)
    np.testing.assert_allclose(torchserve.predict(rows), expected, atol=ATOL)


def test_records_with_category_codes_match_reference(torchserve, contract, reference):
    rows = random_feature_rows(contract, 3, seed=3)
    records = [dict(zip(contract.names, map(float, row), strict=True)) for row in rows]
    np.testing.assert_allclose(torchserve.predict(records), reference(rows)[:, 0], atol=ATOL)


def test_response_is_kserve_v1_json(torchserve, contract):
    response = post(torchserve, json.dumps({"instances": random_feature_rows(contract, 2).tolist()}))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert list(response.json()) == ["predictions"] and len(response.json()["predictions"]) == 2


# --- network exposure and token authorization ---------------------------------------------------------------


def test_every_api_listens_on_loopback_only(torchserve):
    listening = [
        connection.laddr
        for process in torchserve.processes()
        for connection in process.connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    ]
    # inference, management, metrics and TorchServe's two gRPC APIs
    assert len(listening) == 5
    assert {address.ip.removeprefix("::ffff:") for address in listening} == {"127.0.0.1"}


def test_management_api_requires_the_management_key(torchserve):
    url = f"{torchserve.management_address}/models/{MODEL_NAME}"
    for headers in ({}, torchserve.inference_headers, {"Authorization": "Bearer wrong"}):
        response = httpx.get(url, headers=headers)
        assert response.status_code == 400 and response.json()["type"] == TOKEN_REJECTED
    response = httpx.get(url, headers=torchserve.management_headers)
    assert response.status_code == 200
    workers = response.json()[0]["workers"]
    assert workers and all(w["status"] == "READY" for w in workers)


def test_inference_api_requires_the_inference_key(torchserve, contract):
    body = {"instances": random_feature_rows(contract, 1).tolist()}
    for headers in ({}, torchserve.management_headers):
        response = httpx.post(torchserve.inference_url, json=body, headers=headers)
        assert response.status_code == 400 and response.json()["type"] == TOKEN_REJECTED
    assert httpx.get(f"{torchserve.inference_address}/ping", headers=torchserve.inference_headers).json() == {
        "status": "Healthy"
    }


# --- bad bodies: HTTP 400 naming the problem, server keeps serving -----------------------------------------


BAD_BODIES = {
    # case id: (raw body builder taking (contract, max_batch_size), words the message must contain)
    "malformed JSON": (lambda c, m: b'{"instances": [', "not valid JSON"),
    "missing instances": (lambda c, m: json.dumps({"rows": []}), "instances"),
    "empty instances": (lambda c, m: json.dumps({"instances": []}), "empty"),
    "missing feature": (lambda c, m: json.dumps({"instances": [without(valid_record(c), "segment")]}), "segment"),
    "NaN": (lambda c, m: json.dumps({"instances": [valid_record(c, monetary_90d=float("nan"))]}), "monetary_90d"),
    "unknown category label": (
        lambda c, m: json.dumps({"instances": [valid_record(c, channel_preference="fax")]}),
        "fax",
    ),
    "unknown category code in a row": (
        lambda c, m: json.dumps({"instances": [[0.0] * (c.n_features - 1) + [99.0]]}),
        "favorite_category",
    ),
    "row too short": (lambda c, m: json.dumps({"instances": [[1.0] * (c.n_features - 1)]}), "shape"),
    "oversized batch": (
        lambda c, m: json.dumps({"instances": random_feature_rows(c, m + 1).tolist()}),
        "exceeds the limit",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_body_is_400_naming_the_problem(torchserve, contract, reference, max_batch_size, case):
    build, words = BAD_BODIES[case]
    response = post(torchserve, build(contract, max_batch_size))
    assert response.status_code == 400
    assert words in response.json()["message"]
    test_records_and_rows_match_reference(torchserve, contract, reference)  # still serving


def test_predict_raises_invalid_input_with_the_message(torchserve, contract):
    with pytest.raises(InvalidInputError, match="tenure_days"):
        torchserve.predict([valid_record(contract, tenure_days=-5.0)])


def test_form_encoded_body_is_told_to_send_json(torchserve, contract):
    body = json.dumps({"instances": random_feature_rows(contract, 1).tolist()})
    headers = {**torchserve.inference_headers, "content-type": "application/x-www-form-urlencoded"}
    response = httpx.post(torchserve.inference_url, content=body, headers=headers)
    assert response.status_code == 400
    assert "Content-Type: application/json" in response.json()["message"]


def test_torchserve_and_kserve_servers_agree(torchserve, predictor, contract):
    """The same model dir served by TorchServe (.mar) and by the KServe predictor: the same probabilities."""
    rows = random_feature_rows(contract, 32, seed=11)
    body = {"instances": as_records(contract, rows)}
    kserve = httpx.post(f"{predictor.predictor.http_url}/v1/models/{predictor.model_name}:predict", json=body)
    kserve.raise_for_status()
    np.testing.assert_allclose(torchserve.predict(rows), kserve.json()["predictions"], rtol=0, atol=ATOL)
