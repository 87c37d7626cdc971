"""The feedback service's cluster objects: valid, Pod Security "restricted", the same from kustomize and the
chart, and a NetworkPolicy that admits the decision chain and the UI's ingress controller only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.support.network_policy import ingress_allowed
from tests.deploy.support.pod_security import restricted_violations
from tests.deploy.support.render import helm_template, kustomize
from tests.deploy.support.validation import ManifestValidator, load_documents
from tests.deploy.test_helm_chart import HELM_ONLY_LABELS

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "manifests" / "base" / "feedback.yaml"
CHART = REPO / "helm" / "loyaltylens"
NAMESPACE = "loyaltylens"
FEEDBACK_POD = {
    "app.kubernetes.io/name": "feedback",
    "app.kubernetes.io/component": "serving",
    "app.kubernetes.io/instance": "loyaltylens",
}

pytestmark = pytest.mark.skipif(not shutil.which("helm"), reason="needs helm and kubectl: make test installs them")


@pytest.fixture(scope="module")
def from_kustomize(tmp_path_factory) -> dict[tuple[str, str], dict]:
    """manifests/base/feedback.yaml as the base kustomization would render it (namespace, part-of and
    instance labels)."""
    root = tmp_path_factory.mktemp("feedback-kustomize")
    shutil.copy(MANIFEST, root / "feedback.yaml")
    (root / "kustomization.yaml").write_text(
        f"namespace: {NAMESPACE}\nlabels:\n"
        "  - pairs: {app.kubernetes.io/part-of: loyaltylens, app.kubernetes.io/instance: loyaltylens}\n"
        "    includeSelectors: false\nresources: [feedback.yaml]\n"
    )
    return {(d["kind"], d["metadata"]["name"]): d for d in kustomize(root)}


@pytest.fixture(scope="module")
def from_helm() -> dict[tuple[str, str], dict]:
    docs = helm_template(CHART, {"feedback.enabled": True})
    return {(d["kind"], d["metadata"]["name"]): d for d in docs if "feedback" in d["metadata"]["name"]}


def test_the_objects_validate_and_meet_restricted(from_kustomize):
    docs = load_documents(MANIFEST.read_text())
    assert (
        {(d["kind"], d["metadata"]["name"]) for d in docs}
        == set(from_kustomize)
        == {
            ("Service", "feedback"),
            ("Deployment", "feedback"),
            ("NetworkPolicy", "feedback-ingress"),
        }
    )
    assert ManifestValidator().all_errors(docs) == []
    assert [str(v) for v in restricted_violations(docs)] == []


def test_the_chart_renders_the_same_objects_only_when_enabled(from_kustomize, from_helm):
    for key, doc in from_helm.items():
        for label in HELM_ONLY_LABELS:
            doc["metadata"]["labels"].pop(label)
        assert doc == from_kustomize[key], key
    assert set(from_helm) == set(from_kustomize)
    assert not [d for d in helm_template(CHART) if "feedback" in d["metadata"]["name"]]


def test_the_service_reads_the_platform_postgres(from_kustomize):
    container = from_kustomize[("Deployment", "feedback")]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") or e["valueFrom"] for e in container["env"]}
    assert env["LOYALTYLENS_FEEDBACK_STORE"] == "postgres"
    assert env["LOYALTYLENS_POSTGRES_URL"]["configMapKeyRef"]["name"] == "loyaltylens-config"
    assert env["PGPASSWORD"]["secretKeyRef"]["key"] == "PGPASSWORD"


def test_the_network_policies_admit_the_chain_and_the_ui_ingress_only(from_kustomize):
    policies = [*from_kustomize.values(), *kustomize(REPO / "manifests" / "base")]

    def allowed(source: dict, port: int = 8070, target: dict = FEEDBACK_POD, **kwargs) -> bool:
        return ingress_allowed(policies, namespace=NAMESPACE, target=target, source=source, port=port, **kwargs)

    assert allowed({"app.kubernetes.io/component": "serving"})
    assert allowed({"app.kubernetes.io/component": "pipeline"})
    assert allowed({"app.kubernetes.io/name": "ingress-nginx"}, source_namespace="ingress-nginx")
    assert not allowed({"app.kubernetes.io/name": "anything-else"})
    assert not allowed({"app.kubernetes.io/component": "serving"}, port=9999)
    postgres = {
        "app.kubernetes.io/name": "postgres",
        "app.kubernetes.io/component": "database",
        "app.kubernetes.io/instance": "loyaltylens",
    }
    assert allowed(FEEDBACK_POD, port=5432, target=postgres)  # the store it writes to
