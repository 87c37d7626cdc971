"""Vertex AI through the real ``google-cloud-aiplatform`` SDK (REST transport) against a local fake of the
Vertex REST API: the requests it sends for Model upload, Endpoint deploy (traffic split), PipelineJob and
Vector Search match the spec, and each PipelineJob carries the IR of its ``pipelines/*.yaml``.

The fake answers long-running operations as already done and keeps just enough state (models, endpoints
with deployed models and traffic split, indexes) for the SDK's follow-up reads. It does not run containers:
what the deployed model answers is tested for KServe and SageMaker, not here.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from google.cloud.aiplatform_v1.types import Index

from loyaltylens.deploy.spec import load_spec, parse_spec
from loyaltylens.deploy.vertex import DEPLOYMENT_LABEL, VertexDeployer, pipeline_templates, render_plan
from loyaltylens.local.stack import start_propensity_stack
from loyaltylens.propensity.contract import FeatureContract
from tests.model_samples import export_untrained_model, random_feature_rows

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO / "deploy" / "specs" / "propensity.yaml"
PROJECT, LOCATION = "loyaltylens-demo", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
TYPE_PREFIX = "type.googleapis.com/google.cloud.aiplatform.v1."
CREATE_TIME = "2026-01-01T00:00:00Z"  # the SDK re-reads a resource it got without one


class FakeVertex(ThreadingHTTPServer):
    """The slice of the Vertex AI v1 REST API the deployer uses, with every request recorded."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, dict, object]] = []
        self.models: dict[str, dict] = {}
        self.endpoints: dict[str, dict] = {}
        self.indexes: dict[str, dict] = {}
        self.checked_buckets: list[str] = []
        # Where deployed models' containers run (a local KServe server), if anywhere: Vertex checks the
        # health route before a deploy completes and forwards predict bodies to the predict route.
        self.container_url: str | None = None
        self.ids = count(1001)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def sent(self, method: str, suffix: str) -> list:
        return [body for m, path, _, body in self.requests if m == method and path.endswith(suffix)]

    def handle_call(self, method: str, path: str, query: dict, body):  # noqa: C901 - one route table
        name = path.removeprefix("/v1/")
        if method == "POST" and name == f"{PARENT}/models:upload":
            # The service marks custom-container models as deployable on dedicated machines.
            model = {
                **body["model"],
                "name": f"{PARENT}/models/{next(self.ids)}",
                "createTime": CREATE_TIME,
                "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
            }
            self.models[model["name"]] = model
            return _done("UploadModelResponse", {"model": model["name"]})
        if method == "POST" and name == f"{PARENT}/endpoints":
            endpoint = {
                **body,
                "name": f"{PARENT}/endpoints/{next(self.ids)}",
                "createTime": CREATE_TIME,
                "deployedModels": [],
                "trafficSplit": {},
            }
            self.endpoints[endpoint["name"]] = endpoint
            return _done("Endpoint", endpoint)
        if method == "GET" and name == f"{PARENT}/endpoints":
            wanted = query.get("filter", [""])[0].partition("=")[2].strip('"')
            return {"endpoints": [e for e in self.endpoints.values() if e.get("displayName") == wanted]}
        if method == "GET" and name == f"{PARENT}/models":
            return {"models": list(self.models.values())}
        if name.endswith(":deployModel"):
            endpoint = self.endpoints[name.removesuffix(":deployModel")]
            if self.container_url:
                container = self.models[body["deployedModel"]["model"]]["containerSpec"]
                health = httpx.get(self.container_url + container["healthRoute"])
                if health.status_code != 200:
                    return 400, {"error": {"code": 400, "message": f"health route answered {health.status_code}"}}
            deployed = {**body["deployedModel"], "id": str(next(self.ids))}
            endpoint["deployedModels"].append(deployed)
            split = dict(body["trafficSplit"])
            split[deployed["id"]] = split.pop("0")
            endpoint["trafficSplit"] = split
            return _done("DeployModelResponse", {"deployedModel": deployed})
        if name.endswith(":undeployModel"):
            endpoint = self.endpoints[name.removesuffix(":undeployModel")]
            endpoint["deployedModels"] = [d for d in endpoint["deployedModels"] if d["id"] != body["deployedModelId"]]
            endpoint["trafficSplit"] = body.get("trafficSplit") or {
                k: v for k, v in endpoint["trafficSplit"].items() if k != body["deployedModelId"]
            }
            return _done("UndeployModelResponse", {})
        if method == "POST" and name == f"{PARENT}/pipelineJobs":
            job_id = query.get("pipelineJobId", ["job"])[0]
            return {**body, "name": f"{PARENT}/pipelineJobs/{job_id}", "state": "PIPELINE_STATE_PENDING"}
        if method == "POST" and name == f"{PARENT}/indexes":
            index = {**body, "name": f"{PARENT}/indexes/{next(self.ids)}", "createTime": CREATE_TIME}
            self.indexes[index["name"]] = index
            return _done("Index", index)
        if name.endswith(":predict") and self.container_url:
            endpoint = self.endpoints[name.removesuffix(":predict")]
            (deployed,) = endpoint["deployedModels"]
            route = self.models[deployed["model"]]["containerSpec"]["predictRoute"]
            answer = httpx.post(self.container_url + route, json={"instances": body["instances"]})
            if answer.status_code != 200:
                return answer.status_code, {"error": {"code": answer.status_code, "message": answer.text}}
            return {"predictions": answer.json()["predictions"], "deployedModelId": deployed["id"]}
        if name.endswith(":upsertDatapoints"):
            return {}
        for store in (self.models, self.endpoints, self.indexes):
            if name in store:
                if method == "DELETE":
                    del store[name]
                    return _done("DeleteOperationMetadata", {}, metadata_only=True)
                return store[name]
        return None


def _done(type_name: str, response: dict, metadata_only: bool = False) -> dict:
    """A finished long-running operation carrying ``response``."""
    operation = {"name": f"{PARENT}/operations/1", "done": True}
    if metadata_only:
        return operation | {"response": {"@type": "type.googleapis.com/google.protobuf.Empty"}}
    return operation | {"response": {"@type": TYPE_PREFIX + type_name, **response}}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path, query = unquote(url.path), parse_qs(url.query)
        with self.server.lock:
            self.server.requests.append((method, path, query, body))
            answer = self.server.handle_call(method, path, query, body)
        if answer is None:
            answer = 404, {"error": {"code": 404, "message": path}}
        status, answer = answer if isinstance(answer, tuple) else (200, answer)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_DELETE(self):  # noqa: N802
        self._serve("DELETE")


@pytest.fixture
def fake_vertex():
    server = FakeVertex()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def deployer_for(fake_vertex, monkeypatch):
    from google.auth.credentials import AnonymousCredentials

    # PipelineJob.submit first checks (or creates) the pipeline root's bucket and verifies its owner through
    # Cloud Resource Manager, a gRPC client with a fixed host that no local endpoint can stand in for; the
    # check is replaced by a recorder of the bucket it would have checked.
    monkeypatch.setattr(
        "google.cloud.aiplatform.utils.gcs_utils.create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist",
        lambda output_artifacts_gcs_dir, **_: fake_vertex.checked_buckets.append(output_artifacts_gcs_dir),
    )

    def make(spec):
        return VertexDeployer(
            spec, api_endpoint=fake_vertex.url, api_transport="rest", credentials=AnonymousCredentials()
        )

    return make


def test_upload_and_deploy_requests_match_the_spec(fake_vertex, deployer_for):
    spec = load_spec(SPEC_PATH)
    deployer_for(spec).deploy()

    (upload,) = fake_vertex.sent("POST", "/models:upload")
    container = upload["model"]["containerSpec"]
    assert upload["model"]["displayName"] == spec.name
    assert upload["model"]["labels"] == {DEPLOYMENT_LABEL: spec.name}
    assert container["imageUri"] == spec.container.image
    assert container["command"] == spec.container.command
    assert f"--model_uri={spec.model.artifact_uri}" in container["args"]
    assert f"--model_name={spec.model.name}" in container["args"]
    assert container["predictRoute"] == f"/v1/models/{spec.model.name}:predict"
    assert container["healthRoute"] == f"/v1/models/{spec.model.name}"
    assert container["ports"] == [{"containerPort": spec.container.port}]
    assert {e["name"]: e["value"] for e in container["env"]} == spec.container.env

    (deploy,) = fake_vertex.sent("POST", ":deployModel")
    resources = deploy["deployedModel"]["dedicatedResources"]
    assert resources["machineSpec"]["machineType"] == render_plan(spec).machine.name == "n1-standard-2"
    assert (resources["minReplicaCount"], resources["maxReplicaCount"]) == (spec.replicas.min, spec.replicas.max)
    assert deploy["deployedModel"]["model"].endswith(upload_id(fake_vertex, 0))
    # The first model on a new endpoint takes all traffic, whatever the canary share.
    assert deploy["trafficSplit"] == {"0": 100}


def upload_id(fake: FakeVertex, n: int) -> str:
    return list(fake.models)[n].rpartition("/")[2]


def test_second_deploy_is_a_canary_with_the_spec_traffic_split(fake_vertex, deployer_for):
    spec = load_spec(SPEC_PATH)
    deployer = deployer_for(spec)
    deployer.deploy()
    deployer.deploy()

    first, second = fake_vertex.sent("POST", ":deployModel")
    (endpoint,) = fake_vertex.endpoints.values()
    old_id = endpoint["deployedModels"][0]["id"]
    assert second["trafficSplit"] == {"0": spec.canary_percent, old_id: 100 - spec.canary_percent}
    assert deployer.status()["traffic_split"] == {
        old_id: 100 - spec.canary_percent,
        endpoint["deployedModels"][1]["id"]: spec.canary_percent,
    }
    # Only one endpoint: the second deploy found it by display name instead of creating another.
    assert len(fake_vertex.sent("POST", "/endpoints")) == 1

    # A full rollout (canary_percent 0): the new model takes all traffic, the older ones are undeployed.
    deployer_for(parse_spec(spec.model_dump(mode="json") | {"canary_percent": 0})).deploy()
    assert fake_vertex.sent("POST", ":deployModel")[-1]["trafficSplit"] == {"0": 100}
    (latest,) = endpoint["deployedModels"]
    assert endpoint["trafficSplit"] == {latest["id"]: 100}
    assert len(fake_vertex.sent("POST", ":undeployModel")) == 2

    assert deployer.teardown()
    assert fake_vertex.endpoints == {} and fake_vertex.models == {}


def test_every_compiled_pipeline_is_submitted_with_its_ir(fake_vertex, deployer_for):
    spec = load_spec(SPEC_PATH)
    templates = pipeline_templates()
    assert templates, "pipelines/*.yaml should hold the compiled pipelines"
    deployer_for(spec).submit_pipelines()

    submitted = fake_vertex.sent("POST", "/pipelineJobs")
    assert len(submitted) == len(templates)
    for template, job in zip(templates, submitted, strict=True):
        ir = next(yaml.safe_load_all(template.read_text()))
        assert job["pipelineSpec"] == ir
        assert job["runtimeConfig"]["gcsOutputDirectory"] == spec.vertex.pipeline_root
        assert job["displayName"] == f"{spec.name}-{template.stem}"
    assert fake_vertex.checked_buckets == [spec.vertex.pipeline_root] * len(templates)


OFFERS = pd.DataFrame(
    {
        "offer_id": [11, 12, 13],
        "category": ["dairy", "baby", "beverages"],
        "discount_pct": [20, 30, 10],
        "channel": ["mobile", "any", "web"],
        "min_spend": [10.0, 20.0, 0.0],
        "bonus_points": [0, 50, 0],
        "start_date": pd.to_datetime(["2026-01-01"] * 3),
        "end_date": pd.to_datetime(["2026-12-31"] * 3),
        "title": ["Dairy deal", "Nappies deal", "Drinks deal"],
        "text": ["20% off milk in the app", "30% off nappies and wipes", "10% off juice online"],
    }
)


def test_offer_catalog_becomes_a_stream_updated_index(fake_vertex, deployer_for):
    from loyaltylens.retrieval.base import offer_documents
    from loyaltylens.retrieval.embeddings import TextEmbedder

    embedder = TextEmbedder()
    spec = load_spec(SPEC_PATH)
    deployer_for(spec).index_offers(OFFERS, embedder)

    (index,) = fake_vertex.sent("POST", "/indexes")
    config = index["metadata"]["config"]
    assert config["dimensions"] == 384 and config["distanceMeasureType"] == "DOT_PRODUCT_DISTANCE"
    # The REST transport sends enums as numbers (``$alt=json;enum-encoding=int``).
    assert index["indexUpdateMethod"] == Index.IndexUpdateMethod.STREAM_UPDATE
    (upsert,) = fake_vertex.sent("POST", ":upsertDatapoints")
    points = {p["datapointId"]: p for p in upsert["datapoints"]}
    assert set(points) == {"11", "12", "13"}
    # The vectors the pgvector store holds for these offers: MiniLM over each document's search text.
    expected = embedder.embed([d.search_text for d in offer_documents(OFFERS)])
    np.testing.assert_allclose([points[i]["featureVector"] for i in ("11", "12", "13")], expected, atol=1e-6)
    assert points["12"]["restricts"] == [
        {"namespace": "channel", "allowList": ["any"]},
        {"namespace": "category", "allowList": ["baby"]},
    ]


@pytest.fixture(scope="module")
def kserve_container(tmp_path_factory):
    """The serve image's process as the deployed container: a real KServe predictor on loopback."""
    model_dir = export_untrained_model(tmp_path_factory.mktemp("vertex-model"))
    logs = tmp_path_factory.mktemp("vertex-logs")
    with start_propensity_stack(model_dir, logs, with_transformer=False) as stack:
        yield stack.predictor.http_url, FeatureContract.load(model_dir)


def test_vertex_predict_reaches_the_kserve_routes_registered_at_upload(fake_vertex, deployer_for, kserve_container):
    """The predict and health routes given to Model.upload are the ones the KServe server answers, so a Vertex
    predict call comes back with the predictor's own answer."""
    url, contract = kserve_container
    fake_vertex.container_url = url
    spec = load_spec(SPEC_PATH)
    deployer = deployer_for(spec)
    deployer.deploy()
    rows = random_feature_rows(contract, 5, seed=3).tolist()

    answer = deployer.invoke({"instances": rows})
    direct = httpx.post(f"{url}/v1/models/{spec.model.name}:predict", json={"instances": rows}).json()
    assert answer["predictions"] == direct["predictions"]
    assert answer["deployed_model_id"] == next(iter(fake_vertex.endpoints.values()))["deployedModels"][0]["id"]
