"""The service's HTTP contract: clear 4xx in JSON for bad input, idempotent retries, its committed OpenAPI,
and schemathesis finding no 5xx anywhere in that OpenAPI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from loyaltylens.feedback.api import MAX_BODY_BYTES, create_app, openapi_document
from tests.feedback.conftest import make_feedback, make_offer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(sqlite_store) -> TestClient:
    return TestClient(create_app(sqlite_store))


def _rating_json(**changes) -> dict:
    return {**json.loads(make_feedback(key="k-1").model_dump_json()), **changes}


def test_a_rating_is_acknowledged_once_and_a_retry_gets_the_same_id(client, sqlite_store):
    first = client.post("/v1/feedback", json=_rating_json())
    retry = client.post("/v1/feedback", json=_rating_json())
    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json()["id"] == retry.json()["id"] and retry.json()["created"] is False
    conflict = client.post("/v1/feedback", json=_rating_json(stars=1))
    assert conflict.status_code == 409 and "k-1" in conflict.json()["error"]
    assert sqlite_store.count_feedback() == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stars": 6}, "stars"),
        ({"stars": None, "thumb": None}, "give a rating"),
        ({"thumb": "sideways"}, "thumb"),
        ({"rated_at": "2026-12-01T12:00:00"}, "timezone"),
        ({"idempotency_key": "has spaces"}, "idempotency_key"),
        ({"copy_text": "x" * 2001}, "copy_text"),
        ({"customer_id": -1}, "customer_id"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_ratings_are_a_422_with_one_readable_line_and_store_nothing(client, sqlite_store, changes, message):
    response = client.post("/v1/feedback", json=_rating_json(**changes))
    assert response.status_code == 422
    assert message in response.json()["error"]
    assert sqlite_store.count_feedback() == 0


def test_malformed_and_oversized_bodies_are_4xx_json(client):
    malformed = client.post("/v1/feedback", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 422 and "error" in malformed.json()
    json_type = {"content-type": "application/json"}
    huge = client.post("/v1/feedback", content=b" " * (MAX_BODY_BYTES + 1), headers=json_type)
    assert huge.status_code == 413 and "larger than" in huge.json()["error"]

    def chunks():  # no Content-Length: the limit is counted while the body streams in
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    streamed = client.post("/v1/feedback", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_the_customer_list_shows_registered_offers_and_unknown_routes_are_json_404(client):
    assert client.post("/v1/offers", json=json.loads(make_offer().model_dump_json())).status_code == 201
    client.post("/v1/feedback", json=_rating_json())
    (offer,) = client.get("/v1/customers/7/offers").json()
    assert (offer["decision_id"], offer["ratings"], offer["mean_stars"]) == ("d-1", 1, 4.0)
    assert client.get("/v1/customers/8/offers").json() == []
    assert client.get("/v1/customers/7/offers?limit=0").status_code == 422
    assert client.get("/v1/nothing-here").json() == {"error": "Not Found"}


def test_the_committed_openapi_is_the_services():
    committed = json.loads((REPO / "docs" / "feedback-openapi.json").read_text())
    assert committed == openapi_document(), "regenerate: loyaltylens feedback openapi --out docs/feedback-openapi.json"
    assert {"/v1/feedback", "/v1/offers", "/v1/customers/{customer_id}/offers"} <= set(committed["paths"])


def test_schemathesis_finds_no_server_error(sqlite_store):
    """Every operation of the app's own OpenAPI, fuzzed (valid and invalid inputs): never a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(sqlite_store))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4

    for operation, mode in itertools.product(operations, GenerationMode):
        if mode is GenerationMode.NEGATIVE and not (operation.body or operation.query or operation.path_parameters):
            continue  # nothing to get wrong (/healthz, /openapi.json)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case):
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()
