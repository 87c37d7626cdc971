"""The offer API (serving/offers) over the real chain on the skeleton dataset: decisions by expected margin with
versions and stage latencies, 4xx JSON errors (unknown customer 404), each fallback exercised by breaking its
component, the request id on every stage's log line, Prometheus metrics, a batch of 1,000 customers, the
committed OpenAPI, and schemathesis finding no 5xx."""

from __future__ import annotations

import itertools
import json
import logging
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from loyaltylens.config import Settings
from loyaltylens.data.schema import OFFER_CHANNEL_ANY, OFFER_CHANNELS
from loyaltylens.decision.chain import HISTORY_FALLBACK, DecisionChain
from loyaltylens.decision.margin import AnywayModel, Economics, MarginModel
from loyaltylens.decision.offers import LazyService, ModelVersion, OfferService, model_version_of
from loyaltylens.decision.scorers import InProcessScorer, KServeV2Scorer
from loyaltylens.decision.telemetry import JsonLogFormatter, OfferMetrics
from loyaltylens.features.definitions import PAIR_FEATURE_NAMES
from loyaltylens.generation.backends import OpenAIBackend
from loyaltylens.generation.prompts import load_prompt
from loyaltylens.generation.template import TemplateGenerator
from loyaltylens.generation.writer import CopyWriter
from loyaltylens.local.launcher import free_port
from loyaltylens.local.stack import offers_process, start_propensity_stack
from loyaltylens.propensity.export import model_digest
from loyaltylens.propensity.registry import ModelRegistry
from loyaltylens.retrieval.factory import Retrievers
from loyaltylens.retrieval.query import build_customer_query
from loyaltylens.runtime.model_source import champion_uri, resolve_model_dir
from serving.offers.app import create_app, openapi_document
from tests.model_samples import export_untrained_model, never_opts_out

REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = [3, 57, 211, 640]
STAGE_LOGGER = "loyaltylens.decision.stages"


@pytest.fixture(scope="module")
def margin_model() -> MarginModel:
    """A fitted anyway model (the chain's use of it is under test, not its quality) and free sends, so some
    offers earn money and are sent."""
    rows = np.random.default_rng(0).random((400, len(PAIR_FEATURE_NAMES))).astype(np.float32)
    economics = Economics(**{**Economics.from_settings(Settings()).__dict__, "send_cost_eur": 0.0})
    return MarginModel(AnywayModel().fit(rows, rows[:, 0] > 0.5), never_opts_out(rows), None, None, economics)


@pytest.fixture(scope="module")
def prompt():
    return load_prompt(REPO / "prompts", "offer_copy")


def offer_client(store, scorer, retriever, generator, margin_model=None) -> tuple[TestClient, OfferMetrics]:
    chain = DecisionChain(store, scorer, retriever, generator, 0.0, top_k=3, candidates=8, margin_model=margin_model)
    metrics = OfferMetrics()
    service = OfferService(chain, ModelVersion(uri="models:/m@champion", alias="champion", version=3), 1000, metrics)
    return TestClient(create_app(service, metrics)), metrics


@pytest.fixture(scope="module")
def client(skeleton_store, pair_model_dir, offer_index, prompt, margin_model) -> TestClient:
    scorer = InProcessScorer(pair_model_dir)
    return offer_client(skeleton_store, scorer, lambda name: offer_index, TemplateGenerator(prompt), margin_model)[0]


def test_decisions_carry_offers_margin_copy_versions_and_stage_latency(client, skeleton_store):
    response = client.post("/v1/offers", json={"customer_ids": CUSTOMERS}, headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "req-42"
    body = response.json()
    assert body["request_id"] == "req-42" and [d["customer_id"] for d in body["decisions"]] == CUSTOMERS
    for d in body["decisions"]:
        assert d["versions"] == {
            "feature_version": skeleton_store.describe().version,
            "model": {"uri": "models:/m@champion", "alias": "champion", "version": 3},
            "prompt": "offer_copy@" + d["versions"]["prompt"].split("@")[1],
            "generator": d["versions"]["generator"],
            "retriever": "exact",
        }
        assert d["expected_margin_eur"] is not None and d["fallbacks"] == []
        assert set(d["latency_ms"]) == {"features", "retrieval", "propensity", "margin"} | (
            {"generation"} if d["send_offer"] else set()
        )
        assert d["total_ms"] == pytest.approx(sum(d["latency_ms"].values()), abs=0.01)
        if d["send_offer"]:
            assert d["offer_ids"] == [o["offer_id"] for o in d["offers"]] and d["copy"]["headline"]
            assert f"offer #{d['offer_ids'][0]}" in d["reason"] and d["expected_margin_eur"] > 0
        else:
            assert d["offers"] == [] and d["copy"] is None and d["reason"].startswith("no offer earns money")
    assert any(d["send_offer"] for d in body["decisions"])


def test_unknown_customers_are_a_404_naming_them_and_bad_requests_are_422(client):
    unknown = client.post("/v1/offers", json={"customer_ids": [3, 99999, 88888]})
    assert unknown.status_code == 404
    assert unknown.json()["customer_ids"] == [88888, 99999]
    assert "unknown customer id(s) 88888, 99999 in feature version" in unknown.json()["error"]
    for body, message in (
        ({"customer_ids": []}, "customer_ids"),
        ({"customer_ids": [0]}, "customer_ids.0"),
        ({"customer_ids": ["x"]}, "customer_ids.0"),
        ({"customer_ids": [3], "extra": 1}, "extra"),
        ({"customer_ids": [3] * 1001}, "more than the limit of 1000"),
    ):
        response = client.post("/v1/offers", json=body)
        assert response.status_code == 422 and message in response.json()["error"], body
    huge = client.post("/v1/offers", content=b" " * 300_000, headers={"content-type": "application/json"})
    assert huge.status_code == 413 and "larger than" in huge.json()["error"]
    assert client.get("/v1/nothing").json()["error"] == "Not Found"


def test_retrieval_down_falls_back_to_history_and_popularity_candidates(
    skeleton_store, pair_model_dir, offer_index, prompt, margin_model
):
    """pgvector configured at a port nothing listens on: the real retriever fails, the offers still come."""
    down = Settings(retriever="pgvector", postgres_url=f"postgresql://u@127.0.0.1:{free_port()}/db")
    broken = Retrievers(down.model_copy(update={"postgres_connect_timeout_s": 1}), embedder=offer_index.embedder)
    client, metrics = offer_client(
        skeleton_store, InProcessScorer(pair_model_dir), broken.get, TemplateGenerator(prompt), margin_model
    )
    (decision,) = client.post("/v1/offers", json={"customer_ids": [CUSTOMERS[0]]}).json()["decisions"]
    assert decision["versions"]["retriever"] == HISTORY_FALLBACK
    (fallback,) = decision["fallbacks"]
    assert fallback.startswith("retrieval: ") and HISTORY_FALLBACK in fallback
    assert decision["expected_margin_eur"] is not None
    channel = skeleton_store.get_features([CUSTOMERS[0]]).to_records()[0]["channel_preference"]
    offers = skeleton_store.get_offers().set_index("offer_id")
    reachable = {OFFER_CHANNELS.index(channel), OFFER_CHANNELS.index(OFFER_CHANNEL_ANY)}
    for offer in decision["offers"]:  # the candidates are offers of the customer's channel (or any)
        assert offers.loc[offer["offer_id"], "offer_channel"] in reachable
    assert metrics.fallbacks.labels("retrieval")._value.get() == 1


def test_generator_down_gives_the_safe_template_copy_and_says_so(
    skeleton_store, pair_model_dir, offer_index, prompt, margin_model
):
    backend = OpenAIBackend(f"http://127.0.0.1:{free_port()}/v1", "offer-copy", timeout_s=2.0, max_retries=0)
    writer = CopyWriter(backend, prompt, max_retries=0)
    client, _ = offer_client(
        skeleton_store, InProcessScorer(pair_model_dir), lambda name: offer_index, writer, margin_model
    )
    decisions = client.post("/v1/offers", json={"customer_ids": CUSTOMERS}).json()["decisions"]
    sent = [d for d in decisions if d["send_offer"]]
    assert sent, "no customer was sent an offer: the generator was never asked"
    for d in sent:
        (fallback,) = d["fallbacks"]
        assert fallback.startswith("generation: 1 attempt(s) rejected") and "template copy" in fallback
        record = skeleton_store.get_features([d["customer_id"]]).to_records()[0]
        query = build_customer_query(record, active_at=date.fromisoformat(skeleton_store.describe().as_of))
        hit = next(
            h for h in offer_index.search(query.text, k=8, filters=query.filters) if h.offer_id == d["offer_ids"][0]
        )
        expected = TemplateGenerator(prompt).generate(hit, record["segment"], record["channel_preference"])
        assert d["copy"] == json.loads(expected.model_dump_json())


def test_predictor_down_is_a_clear_503_never_a_default(skeleton_store, offer_index, prompt):
    scorer = KServeV2Scorer(f"http://127.0.0.1:{free_port()}", timeout=2.0)
    client, metrics = offer_client(skeleton_store, scorer, lambda name: offer_index, TemplateGenerator(prompt))
    response = client.post("/v1/offers", json={"customer_ids": [CUSTOMERS[0]]})
    assert response.status_code == 503 and "predictor at http://127.0.0.1:" in response.json()["error"]
    assert "unreachable" in response.json()["error"]
    assert metrics.unavailable.labels("ServiceUnavailableError")._value.get() == 1
    scorer.close()


def test_a_predictor_serving_another_model_than_the_margin_models_is_a_503(
    skeleton_store, offer_index, prompt, tmp_path
):
    """The margin model is recalibrated for one model version: a predictor serving another (one rolled out before
    the offer API, or after) fails every decision with a 503 naming both, never decides with the wrong one."""
    served_dir = export_untrained_model(tmp_path / "served", feature_version="skeleton", pairs=True, seed=0)
    other_dir = export_untrained_model(tmp_path / "other", feature_version="skeleton", pairs=True, seed=1)
    with start_propensity_stack(served_dir, tmp_path / "logs", with_transformer=False) as stack:
        for model_dir, status in ((served_dir, 200), (other_dir, 503)):
            scorer = KServeV2Scorer.for_model_dir(stack.predictor.http_url, model_dir, stack.model_name)
            client, _ = offer_client(skeleton_store, scorer, lambda name: offer_index, TemplateGenerator(prompt))
            response = client.post("/v1/offers", json={"customer_ids": [CUSTOMERS[0]]})
            scorer.close()
            assert response.status_code == status, response.text
    error = response.json()["error"]
    assert f"serves model {model_digest(served_dir)}, not {model_digest(other_dir)}" in error


def test_the_api_follows_a_promotion_once_the_registry_names_the_served_model(
    skeleton_store, offer_index, prompt, tmp_path
):
    """The predictor rolled out to the new champion before the offer API: while the registry still names the old
    one, decisions are 503s (no rebuild each time); once it names the served model, the next request rebuilds the
    service on it and is decided, without a restart, and later requests reuse that service."""
    old_dir = export_untrained_model(tmp_path / "old", feature_version="skeleton", pairs=True, seed=0)
    new_dir = export_untrained_model(tmp_path / "new", feature_version="skeleton", pairs=True, seed=1)
    settings = Settings(data_dir=tmp_path / "data", mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    registry = ModelRegistry(settings.tracking_uri, settings.propensity_model_name, artifact_root=tmp_path / "art")
    old_version, new_version = (
        registry.register(
            d, registry.log_training_run(params={}, epoch_metrics=[], metrics={}, model_dir=d, lineage={}), {}
        )
        for d in (old_dir, new_dir)
    )
    registry.promote(old_version)
    metrics, built = OfferMetrics(), []

    def build(model_dir: Path) -> OfferService:
        scorer = KServeV2Scorer.for_model_dir(stack.predictor.http_url, model_dir, stack.model_name)
        chain = DecisionChain(skeleton_store, scorer, lambda name: offer_index, TemplateGenerator(prompt), 0.0)
        built.append(model_digest(model_dir))
        return OfferService(chain, model_version_of("models:/m@champion", model_dir), 1000, metrics, model_dir)

    service = LazyService(
        lambda: resolve_model_dir(champion_uri(settings), settings.tracking_uri, settings.models_dir), build
    )
    client = TestClient(create_app(service, metrics))
    with start_propensity_stack(new_dir, tmp_path / "logs", with_transformer=False) as stack:
        for _ in range(2):
            stale = client.post("/v1/offers", json={"customer_ids": [CUSTOMERS[0]]})
            assert stale.status_code == 503
            assert f"serves model {model_digest(new_dir)}, not {model_digest(old_dir)}" in stale.json()["error"]
        assert built == [model_digest(old_dir)]  # asked the registry again, which still names the old model
        registry.promote(new_version)
        for _ in range(2):
            decided = client.post("/v1/offers", json={"customer_ids": [CUSTOMERS[0]]})
            assert decided.status_code == 200, decided.text
        assert built == [model_digest(old_dir), model_digest(new_dir)]
        assert service.get().model_dir.name == f"{settings.propensity_model_name}-v{new_version}"
    service.get().chain.scorer.close()


def test_the_request_id_is_on_every_stage_log_line(client, caplog):
    with caplog.at_level(logging.INFO, logger=STAGE_LOGGER):
        response = client.post("/v1/offers", json={"customer_ids": CUSTOMERS[:2]}, headers={"X-Request-ID": "r-7"})
        generated = client.post("/v1/offers", json={"customer_ids": CUSTOMERS[:1]})
    stage_records = [r for r in caplog.records if r.name == STAGE_LOGGER]
    decided = {(d["customer_id"], stage) for d in response.json()["decisions"] for stage in d["latency_ms"]}
    tagged = {(r.customer_id, r.stage) for r in stage_records if r.request_id == "r-7"}
    assert tagged == decided  # every stage of every decision logged once with the caller's id
    new_id = generated.headers["x-request-id"]
    assert len(new_id) == 32 and {r.request_id for r in stage_records} == {"r-7", new_id}
    line = json.loads(JsonLogFormatter().format(stage_records[0]))
    assert line["request_id"] == "r-7" and line["stage"] == "features" and line["latency_ms"] >= 0


def test_metrics_count_stages_decisions_and_margin_sent(skeleton_store, pair_model_dir, offer_index, prompt):
    rows = np.random.default_rng(1).random((200, len(PAIR_FEATURE_NAMES))).astype(np.float32)
    free = Economics(**{**Economics.from_settings(Settings()).__dict__, "send_cost_eur": 0.0})
    model = MarginModel(AnywayModel().fit(rows, rows[:, 1] > 0.5), never_opts_out(rows), None, None, free)
    scorer = InProcessScorer(pair_model_dir)
    client, _ = offer_client(skeleton_store, scorer, lambda name: offer_index, TemplateGenerator(prompt), model)
    decisions = client.post("/v1/offers", json={"customer_ids": CUSTOMERS}).json()["decisions"]
    text = client.get("/metrics").text
    sent = sum(d["send_offer"] for d in decisions)
    assert f'loyaltylens_offer_decisions_total{{outcome="sent"}} {float(sent)}' in text
    assert f'loyaltylens_offer_stage_seconds_count{{stage="features"}} {float(len(CUSTOMERS))}' in text
    assert f"loyaltylens_offer_expected_margin_sent_eur_count {float(sent)}" in text
    margin_sum = sum(d["expected_margin_eur"] for d in decisions if d["send_offer"])
    reported = next(
        line for line in text.splitlines() if line.startswith("loyaltylens_offer_expected_margin_sent_eur_sum")
    )
    assert float(reported.split()[1]) == pytest.approx(margin_sum, abs=1e-3 * max(1, len(decisions)))


def test_a_batch_of_1000_customers_completes_without_errors(client, skeleton_store):
    everyone = skeleton_store.get_online_frame()["customer_id"].astype(int).tolist()
    batch = list(itertools.islice(itertools.cycle(everyone), 1000))
    start = time.perf_counter()
    response = client.post("/v1/offers", json={"customer_ids": batch})
    seconds = time.perf_counter() - start
    assert response.status_code == 200, response.text[:300]
    decisions = response.json()["decisions"]
    assert [d["customer_id"] for d in decisions] == batch
    assert all(d["fallbacks"] == [] and d["reason"] for d in decisions)
    assert seconds < 60, f"1,000 customers took {seconds:.1f} s"


def test_the_committed_openapi_is_the_apis():
    committed = json.loads((REPO / "docs" / "offers-openapi.json").read_text())
    assert committed == openapi_document(), "regenerate: python -m serving.offers --openapi docs/offers-openapi.json"
    assert {"/v1/offers", "/healthz", "/metrics"} <= set(committed["paths"])


def test_schemathesis_finds_no_server_error(client):
    """Every operation of the app's own OpenAPI, fuzzed (valid and invalid inputs): never a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 3

    for operation, mode in itertools.product(operations, GenerationMode):
        if mode is GenerationMode.NEGATIVE and not (operation.body or operation.query or operation.path_parameters):
            continue  # nothing to get wrong (/healthz, /metrics)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case):
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()


def test_serve_offers_runs_the_api_as_its_own_process(isolated_settings, pair_model_dir, tmp_path):
    """What ``loyaltylens serve offers`` starts: up at once (the chain is built on the first decision)."""
    import httpx

    port = free_port()
    with offers_process(pair_model_dir, port, tmp_path / "offers.log") as server:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json() == {"alive": True}
        invalid = httpx.post(f"{base}/v1/offers", json={"customer_ids": []}, headers={"X-Request-ID": "p-1"})
        assert invalid.status_code == 422 and invalid.json()["request_id"] == "p-1"
        assert "loyaltylens_offer_decisions" in httpx.get(f"{base}/metrics").text
        assert server.process.poll() is None


def test_remote_mode_decides_as_in_process_and_forwards_the_request_id(
    client, skeleton_store, pair_model_dir, offer_index, prompt, margin_model, tmp_path
):
    """The same chain with the KServe predictor (v2 REST) instead of the in-process model: same decisions."""
    sent_ids = []
    with start_propensity_stack(pair_model_dir, tmp_path, with_transformer=False) as stack:
        scorer = KServeV2Scorer(stack.predictor.http_url, stack.model_name, margin_model=margin_model)
        scorer._client.event_hooks["request"].append(lambda request: sent_ids.append(request.headers["x-request-id"]))
        remote, _ = offer_client(
            skeleton_store, scorer, lambda name: offer_index, TemplateGenerator(prompt), margin_model
        )
        body = {"customer_ids": CUSTOMERS}
        a = client.post("/v1/offers", json=body).json()["decisions"]
        b = remote.post("/v1/offers", json=body, headers={"X-Request-ID": "remote-1"}).json()["decisions"]
        scorer.close()
    for local, served in zip(a, b, strict=True):
        assert (local["send_offer"], local["offer_ids"], local["copy"]) == (
            served["send_offer"],
            served["offer_ids"],
            served["copy"],
        )
        assert local["expected_margin_eur"] == pytest.approx(served["expected_margin_eur"], abs=1e-5)
    assert sent_ids and set(sent_ids) == {"remote-1"}  # metadata + one scoring call per customer
