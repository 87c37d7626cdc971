"""Every KServe resource under manifests/ validates against the KServe v0.20 CRD schemas, strictly
(see loyaltylens.deploy.validation). Beyond the schema: every container has requests and limits and runs
as non-root, and the project's own containers have probes.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest

from loyaltylens.deploy.validation import KServeValidator, kserve_documents

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
SCHEMA_DIR = REPO.parent / "shared" / "schemas" / "kserve-v0.20.0"

pytestmark = pytest.mark.skipif(
    not SCHEMA_DIR.is_dir(),
    reason=f"KServe CRD schemas not found at {SCHEMA_DIR} (shared/ is beside the repo)",
)


@pytest.fixture(scope="module")
def validator() -> KServeValidator:
    return KServeValidator(SCHEMA_DIR)


def _manifest_documents() -> dict[str, dict]:
    """``file:name`` -> KServe document, for every YAML file under manifests/."""
    docs = {}
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        for doc in kserve_documents(path.read_text()):
            docs[f"{path.relative_to(MANIFESTS)}:{doc['metadata']['name']}"] = doc
    return docs


DOCUMENTS = _manifest_documents()


def test_manifests_cover_the_three_serving_variants():
    names = {doc["metadata"]["name"] for doc in DOCUMENTS.values() if doc["kind"] == "InferenceService"}
    assert {"propensity", "propensity-grpc", "propensity-torchserve"} <= names
    torchserve = next(d for d in DOCUMENTS.values() if d["metadata"]["name"] == "propensity-torchserve")
    assert torchserve["spec"]["predictor"]["model"]["modelFormat"]["name"] == "pytorch"


@pytest.mark.parametrize("key", sorted(DOCUMENTS))
def test_manifest_validates_against_crd(validator, key):
    assert validator.errors(DOCUMENTS[key]) == []


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (for `kubectl kustomize`) not installed")
@pytest.mark.parametrize("layer", ["base", "overlays/kind"])
def test_kustomize_build_validates(validator, layer):
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(MANIFESTS / layer)], capture_output=True, text=True, check=True
    ).stdout
    docs = kserve_documents(rendered)
    assert len(docs) >= 4
    for doc in docs:
        assert validator.errors(doc) == [], doc["metadata"]["name"]


def _containers(doc: dict) -> list[dict]:
    spec = doc["spec"]
    if doc["kind"] == "ServingRuntime":
        return spec["containers"]
    components = [spec[c] for c in ("predictor", "transformer") if c in spec]
    return [c for comp in components for c in comp.get("containers", [])] + [
        comp["model"] for comp in components if "model" in comp
    ]


@pytest.mark.parametrize("key", sorted(DOCUMENTS))
def test_containers_are_bounded_and_non_root(key):
    doc = DOCUMENTS[key]
    pod_security = [
        doc["spec"][c].get("securityContext", {}) for c in ("predictor", "transformer") if c in doc["spec"]
    ]
    for container in _containers(doc):
        resources = container["resources"]
        assert resources["requests"] and resources["limits"], key
        security = container.get("securityContext", {})
        assert security.get("runAsNonRoot") or all(p.get("runAsNonRoot") for p in pod_security), key
        assert security.get("allowPrivilegeEscalation") is False, key
        if "image" in container:  # the project's own containers (TorchServe's runtime brings its own)
            assert "readinessProbe" in container or doc["kind"] == "ServingRuntime", key


def _broken_copies() -> dict[str, dict]:
    base = next(d for d in DOCUMENTS.values() if d["metadata"]["name"] == "propensity")
    wrong_type, typo, missing = copy.deepcopy(base), copy.deepcopy(base), copy.deepcopy(base)
    wrong_type["spec"]["predictor"]["minReplicas"] = "one"
    typo["spec"]["predictor"]["containers"][0]["imagee"] = typo["spec"]["predictor"]["containers"][0].pop(
        "image"
    )
    del missing["spec"]["predictor"]
    return {"wrong type": wrong_type, "misspelt field": typo, "missing predictor": missing}


@pytest.mark.parametrize("breakage", ["wrong type", "misspelt field", "missing predictor"])
def test_broken_copy_fails(validator, breakage):
    errors = validator.errors(_broken_copies()[breakage])
    assert errors, f"a manifest with a {breakage} validated"
