"""The offer API's cluster objects: in the base kustomization and the chart by default (the chart test compares
them object by object), valid, Pod Security "restricted", reading the platform's services, and a NetworkPolicy
that admits the project's pods, the ingress controller and the monitoring namespace's scraper only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.support.network_policy import ingress_allowed
from tests.deploy.support.pod_security import restricted_violations
from tests.deploy.support.render import helm_template, kustomize
from tests.deploy.support.validation import ManifestValidator, load_documents

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "manifests" / "base" / "offers.yaml"
CHART = REPO / "helm" / "loyaltylens"
NAMESPACE = "loyaltylens"
INSTANCE = {"app.kubernetes.io/instance": "loyaltylens"}  # the release label every pod of the platform carries
OFFERS_POD = {"app.kubernetes.io/name": "offers", "app.kubernetes.io/component": "serving", **INSTANCE}

pytestmark = pytest.mark.skipif(not shutil.which("helm"), reason="needs helm and kubectl: make test installs them")


@pytest.fixture(scope="module")
def base() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in kustomize(REPO / "manifests" / "base")}


def test_the_base_deploys_the_offer_api_valid_and_restricted(base):
    docs = load_documents(MANIFEST.read_text())
    keys = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert keys == {("Service", "offers"), ("Deployment", "offers"), ("NetworkPolicy", "offers-ingress")}
    assert keys <= set(base)
    assert ManifestValidator().all_errors(docs) == []
    assert [str(v) for v in restricted_violations(docs)] == []
    pod = base[("Deployment", "offers")]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python", "-m", "serving.offers"]
    assert pod["spec"]["serviceAccountName"] == "loyaltylens-serving"
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    sources = [ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]]
    assert sources == ["loyaltylens-config", "loyaltylens-s3", "loyaltylens-postgres"]
    assert {"name": "tmp", "emptyDir": {}} in pod["spec"]["volumes"]  # its own scratch dir, no shared disk
    service = base[("Service", "offers")]["spec"]
    assert service["selector"] == OFFERS_POD and service["ports"][0]["port"] == 8060


def test_the_chart_switches_it_off_and_uses_the_release_secret_names():
    assert ("Deployment", "offers") in {(d["kind"], d["metadata"]["name"]) for d in helm_template(CHART)}
    assert not [d for d in helm_template(CHART, {"offers.enabled": False}) if "offers" in d["metadata"]["name"]]
    docs = helm_template(CHART, {"secrets.s3": "team-s3", "offers.replicas": 3})
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "offers")
    assert deployment["spec"]["replicas"] == 3
    refs = [
        ref.get("secretRef", {}).get("name")
        for ref in deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    ]
    assert "team-s3" in refs


def test_the_network_policies_admit_the_project_ingress_and_monitoring_only(base):
    policies = [d for d in base.values() if d["kind"] == "NetworkPolicy"]

    def allowed(source: dict, port: int = 8060, target: dict = OFFERS_POD, **kwargs) -> bool:
        return ingress_allowed(policies, namespace=NAMESPACE, target=target, source=source, port=port, **kwargs)

    assert allowed({"app.kubernetes.io/component": "serving"})
    assert allowed({"app.kubernetes.io/component": "pipeline"})
    assert allowed({"app.kubernetes.io/name": "prometheus"}, source_namespace="monitoring")
    assert allowed({"app.kubernetes.io/name": "ingress-nginx"}, source_namespace="ingress-nginx")
    assert not allowed({"app.kubernetes.io/name": "anything-else"})
    assert not allowed({"app.kubernetes.io/name": "prometheus"}, source_namespace="default")
    assert not allowed({"app.kubernetes.io/component": "serving"}, port=9999)
    # what it reads: MLflow, Postgres (feature catalog, pgvector), the object store (feature parquet)
    for target, port in (
        ({"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking", **INSTANCE}, 5000),
        ({"app.kubernetes.io/name": "postgres", "app.kubernetes.io/component": "database", **INSTANCE}, 5432),
        ({"app.kubernetes.io/name": "minio", "app.kubernetes.io/component": "object-store", **INSTANCE}, 9000),
    ):
        assert allowed(OFFERS_POD, port=port, target=target), target


def test_the_service_monitor_scrapes_the_offer_api_metrics_port(base):
    (monitor,) = kustomize(REPO / "manifests" / "monitoring")
    assert ManifestValidator().all_errors([monitor]) == []
    assert monitor["metadata"]["namespace"] == NAMESPACE
    service = base[("Service", "offers")]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]} and endpoint["path"] == "/metrics"

    assert not [d for d in helm_template(CHART) if d["kind"] == "ServiceMonitor"]  # off: needs the operator
    values = {"offers.serviceMonitor.enabled": True, "offers.serviceMonitor.labels.release": "kube-prometheus-stack"}
    (from_helm,) = [d for d in helm_template(CHART, values) if d["kind"] == "ServiceMonitor"]
    labels = from_helm["metadata"].pop("labels")
    assert labels["release"] == "kube-prometheus-stack" and labels["app.kubernetes.io/name"] == "offers"
    assert from_helm["spec"] == monitor["spec"]
    assert ManifestValidator().all_errors([from_helm]) == []
