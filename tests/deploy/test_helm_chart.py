"""The Helm chart lints, renders valid objects that meet Pod Security "restricted", renders the same objects
as the kustomize kind overlay, and its values switch what they say (external S3, existing Secret names,
components)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy.support.pod_security import restricted_violations
from tests.deploy.support.render import helm_lint, helm_template, kustomize
from tests.deploy.support.validation import ManifestValidator

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "loyaltylens"
HELM_ONLY_LABELS = (
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
)
VARIANTS = {
    "defaults": {},
    "namespace + external S3": {"namespace.create": True, "objectStore.externalEndpoint": "https://s3.example.com"},
    "propensity only": {"grpc.enabled": False, "torchserve.enabled": False, "propensity.transformer.enabled": False},
    "canary": {"deploymentMode": "Serverless", "propensity.canaryTrafficPercent": 10, "image.pullPolicy": "Always"},
}


def _by_key(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


@pytest.fixture(scope="module")
def validator() -> ManifestValidator:
    return ManifestValidator()


def test_chart_lints_clean():
    helm_lint(CHART)
    helm_lint(CHART, VARIANTS["namespace + external S3"])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_objects_validate_and_meet_restricted(validator, variant):
    docs = helm_template(CHART, VARIANTS[variant])
    assert len(docs) >= 10
    assert validator.all_errors(docs) == []
    assert [str(v) for v in restricted_violations(docs)] == []


def _comparable(doc: dict) -> dict:
    """``doc`` without the labels only Helm adds (kustomize adds only app.kubernetes.io/part-of)."""
    doc = json.loads(json.dumps(doc))
    labels = doc["metadata"].get("labels", {})
    for label in HELM_ONLY_LABELS:
        labels.pop(label)
    return doc


def test_chart_renders_the_same_objects_as_the_kind_overlay():
    """Every object, not only the InferenceServices: same specs, same ConfigMap keys and values, same RBAC
    and NetworkPolicies. The overlay may hold more InferenceServices (other models); the chart holds every
    other object kustomize renders."""
    from_kustomize = _by_key(kustomize(REPO / "manifests" / "overlays" / "kind"))
    from_helm = _by_key(helm_template(CHART, {"namespace.create": True}))  # one image tag: the overlay's
    assert set(from_helm) <= set(from_kustomize)
    assert {k for k in from_kustomize if k[0] != "InferenceService"} <= set(from_helm)
    assert {"propensity", "propensity-grpc", "propensity-torchserve", "generator"} <= {
        name for kind, name in from_helm if kind == "InferenceService"
    }
    for key, doc in from_helm.items():
        assert _comparable(doc) == from_kustomize[key], key


def test_external_s3_endpoint_replaces_minio():
    docs = _by_key(helm_template(CHART, {"objectStore.externalEndpoint": "https://s3.eu-west-1.amazonaws.com"}))
    assert not [key for key in docs if "minio" in key[1] or key[1] == "object-store-ingress"]
    assert docs[("ConfigMap", "loyaltylens-config")]["data"]["LOYALTYLENS_S3_ENDPOINT_URL"] == (
        "https://s3.eu-west-1.amazonaws.com"
    )
    assert "Deployment" in {kind for kind, _ in docs}  # MLflow still runs, against the external store


def _secret_references(node: object) -> set[str]:
    """Names of the Secrets referenced anywhere in ``node`` (envFrom, env valueFrom, ServiceAccount secrets)."""
    if isinstance(node, list):
        return set().union(*map(_secret_references, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node[key]["name"] for key in ("secretRef", "secretKeyRef") if key in node}
    found |= {s["name"] for s in node.get("secrets", []) if isinstance(s, dict)}
    return found | _secret_references(list(node.values()))


def test_existing_secret_names_are_referenced_everywhere():
    assert _secret_references(helm_template(CHART)) == {"loyaltylens-s3", "loyaltylens-postgres"}
    docs = helm_template(CHART, {"secrets.s3": "team-s3", "secrets.postgres": "team-pg"})
    assert _secret_references(docs) == {"team-s3", "team-pg"}
    role = _by_key(docs)[("Role", "loyaltylens-pipeline")]
    assert role["rules"][1]["resourceNames"] == ["team-s3", "team-pg"]
    assert not [d for d in docs if d["kind"] == "Secret"]


def test_toggles_add_and_remove_components():
    names = {
        d["metadata"]["name"]
        for d in helm_template(CHART, {"torchserve.enabled": False, "generator.enabled": False})
        if d["kind"] == "InferenceService"
    }
    assert names == {"propensity", "propensity-grpc"}
    without = _by_key(helm_template(CHART, {"propensity.transformer.enabled": False}))
    assert "transformer" not in without[("InferenceService", "propensity")]["spec"]
    no_grpc = _by_key(helm_template(CHART, {"grpc.enabled": False}))
    assert ("ServingRuntime", "loyaltylens-propensity") not in no_grpc
    canary = _by_key(helm_template(CHART, VARIANTS["canary"]))[("InferenceService", "propensity")]
    assert canary["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert canary["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert canary["spec"]["predictor"]["containers"][0]["imagePullPolicy"] == "Always"
    assert ("Namespace", "loyaltylens") not in _by_key(helm_template(CHART))  # helm install: namespace exists


def test_values_schema_rejects_unknown_keys_and_wrong_types():
    """values.schema.json: a typo or a wrong type fails `helm template` instead of rendering defaults."""
    from loyaltylens.errors import InvalidInputError

    for bad in ({"propensity.minReplicas": "two"}, {"generatr.enabled": True}, {"deploymentMode": "Fast"}):
        with pytest.raises(InvalidInputError, match="values don't meet the specifications of the schema"):
            helm_template(CHART, bad)


def test_every_object_has_the_release_labels():
    for doc in helm_template(CHART, {"namespace.create": True}):
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "loyaltylens" and labels["app.kubernetes.io/version"], doc
