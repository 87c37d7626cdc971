"""The Helm chart lints, renders valid KServe objects, and renders the same InferenceService as kustomize."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from loyaltylens.deploy.validation import KServeValidator, kserve_documents

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "loyaltylens"
SCHEMA_DIR = REPO.parent / "shared" / "schemas" / "kserve-v0.20.0"

pytestmark = [
    pytest.mark.skipif(
        shutil.which("helm") is None,
        reason="helm not installed (make test runs scripts/install-k8s-tools.sh)",
    ),
    pytest.mark.skipif(not SCHEMA_DIR.is_dir(), reason=f"KServe CRD schemas not found at {SCHEMA_DIR}"),
]


def _helm_template(*sets: str) -> list[dict]:
    args = ["helm", "template", "loyaltylens", str(CHART), "--namespace", "loyaltylens"]
    for value in sets:
        args += ["--set", value]
    return [
        d
        for d in yaml.safe_load_all(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
        if d
    ]


def test_chart_lints_clean():
    result = subprocess.run(["helm", "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "sets", [(), ("torchserve.enabled=true",), ("propensity.transformer.enabled=false",)]
)
def test_rendered_kserve_objects_validate(sets):
    validator = KServeValidator(SCHEMA_DIR)
    docs = [d for d in _helm_template(*sets) if d["apiVersion"].startswith("serving.kserve.io/")]
    assert docs
    for doc in docs:
        assert validator.errors(doc) == [], doc["metadata"]["name"]


def test_toggles_add_and_remove_components():
    names = {
        d["metadata"]["name"]
        for d in _helm_template("torchserve.enabled=true")
        if d["kind"] == "InferenceService"
    }
    assert names == {"propensity", "propensity-torchserve"}
    without = next(
        d for d in _helm_template("propensity.transformer.enabled=false") if d["kind"] == "InferenceService"
    )
    assert "transformer" not in without["spec"]


def test_chart_renders_the_same_inferenceservice_as_kustomize():
    kustomized = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "manifests" / "base")], capture_output=True, text=True, check=True
    ).stdout
    from_kustomize = next(d for d in kserve_documents(kustomized) if d["metadata"]["name"] == "propensity")
    from_helm = next(d for d in _helm_template() if d.get("kind") == "InferenceService")
    strip_pull_policy(from_helm)
    assert from_helm["spec"] == from_kustomize["spec"]


def strip_pull_policy(doc: dict) -> None:
    """The chart makes imagePullPolicy configurable; kustomize leaves the cluster default."""
    for component in ("predictor", "transformer"):
        for container in doc["spec"].get(component, {}).get("containers", []):
            container.pop("imagePullPolicy", None)
