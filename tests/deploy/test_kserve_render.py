"""KServe target: every shape of rendered InferenceService passes the project's manifest validation (strict
KServe CRD and Kubernetes ObjectMeta schemas) and Pod Security ``restricted``, and the kubernetes client applies
it (create, then patch for a new revision), reads its status and deletes it.

The apply path runs against a local fake of the Kubernetes API's custom-objects routes, reached through a
kubeconfig, so the real client code is exercised; ``test_apply_on_a_real_cluster`` needs ``KUBECONFIG``
pointing at a cluster with KServe installed.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from loyaltylens.deploy.kserve import KServeDeployer, kubeconfig_path, render_inference_service
from loyaltylens.deploy.spec import load_spec, parse_spec
from loyaltylens.errors import NotFoundError
from tests.deploy.support.pod_security import restricted_violations
from tests.deploy.support.validation import ManifestValidator

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "deploy" / "specs"
COLLECTION = "/apis/serving.kserve.io/v1beta1/namespaces/loyaltylens/inferenceservices"


def variants() -> dict[str, dict]:
    propensity = load_spec(SPECS / "propensity.yaml").model_dump(mode="json")
    generator = load_spec(SPECS / "generator.yaml").model_dump(mode="json")

    def changed(document: dict, **model_changes) -> dict:
        return document | {"model": document["model"] | model_changes}

    return {
        "registry": propensity,
        "s3 torchscript": changed(propensity, artifact_uri="s3://models/propensity/v3"),
        "pvc v2": changed(propensity, artifact_uri="pvc://loyaltylens-models/propensity", protocol="v2"),
        "gpu": propensity | {"resources": {"cpu": 4, "memory_gib": 16, "gpu": 1}, "canary_percent": 0},
        "generator": generator,
        "generator gs": changed(generator, artifact_uri="gs://models/generator"),
    }


@pytest.mark.parametrize("name", list(variants()))
def test_rendered_inference_service_passes_the_crd_schema_and_pod_security(name):
    spec = parse_spec(variants()[name])
    isvc = render_inference_service(spec)
    assert ManifestValidator().errors(isvc) == []
    assert restricted_violations([isvc]) == []
    predictor = isvc["spec"]["predictor"]
    if spec.scheme.value in ("s3://", "gs://", "pvc://") and spec.model.runtime == "torchscript":
        assert predictor["model"]["storageUri"] == spec.model.artifact_uri
        assert predictor["model"]["protocolVersion"] == spec.model.protocol
    else:
        (container,) = predictor["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        if spec.scheme.value == "gs://":
            # KServe's storage initializer downloads STORAGE_URI to /mnt/models for custom containers.
            assert env["STORAGE_URI"] == spec.model.artifact_uri
            assert "--model_dir=/mnt/models" in container["args"]
        else:
            assert f"--model_uri={spec.model.artifact_uri}" in container["args"]
        if spec.resources.gpu:
            assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


class FakeKubernetes(ThreadingHTTPServer):
    """The custom-objects routes of the Kubernetes API for one InferenceService collection."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _KubeHandler)
        self.objects: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict | None]] = []


class _KubeHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path = self.path.split("?")[0]
        self.server.requests.append((method, path, body))
        objects = self.server.objects
        name = path.removeprefix(COLLECTION + "/") if path.startswith(COLLECTION + "/") else None
        if method == "POST" and path == COLLECTION:
            metadata = body["metadata"] | {"resourceVersion": "1"}
            objects[metadata["name"]] = body | {"metadata": metadata, "status": {"url": "http://isvc.example"}}
            return self._answer(201, objects[metadata["name"]])
        if name in objects:
            if method == "GET":
                return self._answer(200, objects[name])
            if method == "PUT":
                current = objects[name]["metadata"]["resourceVersion"]
                if body["metadata"].get("resourceVersion") != current:  # optimistic concurrency, as the API server
                    return self._answer(409, {"kind": "Status", "code": 409, "reason": "Conflict"})
                metadata = body["metadata"] | {"resourceVersion": str(int(current) + 1)}
                objects[name] = body | {"metadata": metadata, "status": objects[name]["status"]}
                return self._answer(200, objects[name])
            if method == "DELETE":
                del objects[name]
                return self._answer(200, {"status": "Success"})
        return self._answer(404, {"kind": "Status", "code": 404, "reason": "NotFound"})

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_PUT(self):  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self):  # noqa: N802
        self._serve("DELETE")


@pytest.fixture
def fake_cluster(tmp_path, monkeypatch):
    server = FakeKubernetes()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "fake", "user": {}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        "current-context": "fake",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(path))
    yield server
    server.shutdown()
    server.server_close()


def test_apply_creates_replaces_promotes_and_deletes(fake_cluster):
    spec = load_spec(SPECS / "propensity.yaml")
    assert kubeconfig_path() is not None
    KServeDeployer(spec).deploy()
    canary = KServeDeployer(spec.with_artifact("models:/loyaltylens-propensity/7"))
    canary.deploy()

    methods = [(m, p.rsplit("/", 1)[-1]) for m, p, _ in fake_cluster.requests]
    assert methods == [("GET", spec.name), ("POST", "inferenceservices"), ("GET", spec.name), ("PUT", spec.name)]
    created, replaced = fake_cluster.requests[1][2], fake_cluster.requests[3][2]
    assert created == render_inference_service(spec)
    assert replaced["metadata"]["resourceVersion"] == "1"
    assert replaced["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert "--model_uri=models:/loyaltylens-propensity/7" in replaced["spec"]["predictor"]["containers"][0]["args"]
    assert canary.status()["url"] == "http://isvc.example"

    # Promotion: the same artifact with canary_percent 0; the canary field must disappear, not linger.
    promoted = parse_spec(canary.spec.model_dump(mode="json") | {"canary_percent": 0})
    KServeDeployer(promoted).deploy()
    assert "canaryTrafficPercent" not in fake_cluster.objects[spec.name]["spec"]["predictor"]

    canary.teardown()
    assert fake_cluster.objects == {}
    with pytest.raises(NotFoundError):
        canary.status()


@pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG not set (a cluster with KServe installed)")
def test_apply_on_a_real_cluster():
    spec = load_spec(SPECS / "propensity.yaml")
    deployer = KServeDeployer(spec)
    try:
        deployer.deploy()
        assert deployer.status()["name"] == spec.name
    finally:
        deployer.teardown()
