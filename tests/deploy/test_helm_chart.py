"""The Helm chart lints, renders valid objects that meet Pod Security "restricted", renders the same objects
as the kustomize kind overlay, and its values switch what they say (external S3, existing Secret names,
components)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.deploy.support.network_policy import selects
from tests.deploy.support.pod_security import restricted_violations
from tests.deploy.support.render import helm_lint, helm_template, kustomize
from tests.deploy.support.validation import ManifestValidator

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "loyaltylens"
HELM_ONLY_LABELS = (
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
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
    """``doc`` without the labels only Helm adds (kustomize adds app.kubernetes.io/part-of and the instance label)."""
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


# --- two releases in one namespace -------------------------------------------------------------------------

OTHER_RELEASE = "staging"
SVC_HOST = re.compile(r"([a-z0-9-]+)\.loyaltylens\.svc(?:\.cluster\.local)?")
# Selectors that pick pods by role across the namespace, on purpose: the default deny, the KServe ingress rule
# for every InferenceService, and the KFP step / serving roles admitted to the services (those pods carry no
# release: compiled pipelines and `loyaltylens deploy` InferenceServices).
NAMESPACE_WIDE_SELECTORS = (
    {},
    {"matchExpressions": [{"key": "serving.kserve.io/inferenceservice", "operator": "Exists"}]},
    {"matchLabels": {"app.kubernetes.io/component": "pipeline"}},
    {"matchLabels": {"app.kubernetes.io/component": "serving"}},
)


@pytest.fixture(scope="module")
def two_releases() -> dict[str, list[dict]]:
    """The chart with every component on, installed twice into the namespace loyaltylens."""
    return {
        release: helm_template(CHART, {"feedback.enabled": True}, release=release)
        for release in ("loyaltylens", OTHER_RELEASE)
    }


def _references(doc: dict) -> set[tuple[str, str]]:
    """(kind, name) of every object of the chart that ``doc`` names: ConfigMap refs, ServiceAccounts, volume
    claims, the ServingRuntime, RBAC role and subjects, a StatefulSet's governing Service, and the Services
    whose hostnames the ConfigMap and MLflow's --allowed-hosts hold. The Secrets are the user's (values), not
    the release's, and stay out."""
    found: set[tuple[str, str]] = set()

    def walk(node: object) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key in ("configMapRef", "configMapKeyRef"):
                if key in node:
                    found.add(("ConfigMap", node[key]["name"]))
            if "serviceAccountName" in node:
                found.add(("ServiceAccount", node["serviceAccountName"]))
            if "persistentVolumeClaim" in node:
                found.add(("PersistentVolumeClaim", node["persistentVolumeClaim"]["claimName"]))
            if "runtime" in node and "modelFormat" in node:
                found.add(("ServingRuntime", node["runtime"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, str):
            found.update(("Service", host) for host in SVC_HOST.findall(node))

    walk(doc.get("spec"))
    walk(doc.get("data"))
    if doc["kind"] == "RoleBinding":
        found.add((doc["roleRef"]["kind"], doc["roleRef"]["name"]))
        found.update((s["kind"], s["name"]) for s in doc["subjects"])
    if doc["kind"] == "Role":
        found.update(
            ("ConfigMap", n)
            for rule in doc["rules"]
            if rule["resources"] == ["configmaps"]
            for n in rule["resourceNames"]
        )
    if doc["kind"] == "StatefulSet":
        found.add(("Service", doc["spec"]["serviceName"]))
    return found


def _pods(docs: list[dict]) -> dict[str, dict]:
    """The labels each release's pods carry, by workload; KServe adds serving.kserve.io/inferenceservice (and
    serving.kserve.io/inferencegraph on an InferenceGraph's router)."""
    pods = {}
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            pods[name] = doc["spec"]["template"]["metadata"]["labels"]
        elif doc["kind"] == "InferenceService":
            for component in ("predictor", "transformer"):
                if component in doc["spec"]:
                    labels = doc["spec"][component].get("labels", {})
                    pods[f"{name} ({component})"] = {
                        **labels,
                        "serving.kserve.io/inferenceservice": doc["metadata"]["name"],
                    }
        elif doc["kind"] == "InferenceGraph":
            pods[f"{name} (router)"] = {"serving.kserve.io/inferencegraph": doc["metadata"]["name"]}
    return pods


def _selectors(doc: dict) -> list[dict]:
    """Every LabelSelector in ``doc`` that picks pods: a Service's, a workload's, a NetworkPolicy's target and
    its pod peers."""
    spec = doc.get("spec") or {}
    if doc["kind"] == "Service":
        return [{"matchLabels": spec["selector"]}]
    if doc["kind"] in ("Deployment", "StatefulSet"):
        return [spec["selector"]]
    if doc["kind"] == "NetworkPolicy":
        peers = [
            peer["podSelector"] for rule in spec.get("ingress", []) for peer in rule["from"] if "podSelector" in peer
        ]
        return [spec["podSelector"], *peers]
    return []


def test_two_releases_share_a_namespace_without_colliding(two_releases):
    main, other = (set(_by_key(docs)) for docs in two_releases.values())
    assert not main & other
    assert all(name.startswith(f"{OTHER_RELEASE}-") for _, name in other)
    assert len(main) == len(other) == len(two_releases[OTHER_RELEASE])  # no two objects share a (kind, name)


def test_each_release_references_only_its_own_objects(two_releases):
    keys = {release: set(_by_key(docs)) for release, docs in two_releases.items()}
    for release, docs in two_releases.items():
        (other,) = set(keys) - {release}
        references = set().union(*map(_references, docs))
        assert {kind for kind, _ in references} >= {
            "ConfigMap",
            "ServiceAccount",
            "PersistentVolumeClaim",
            "ServingRuntime",
            "Role",
            "Service",
        }
        assert references - keys[release] == set(), release
        assert not references & keys[other], release
        assert _secret_references(docs) == {"loyaltylens-s3", "loyaltylens-postgres"}  # the user's, shared


def test_no_selector_picks_the_other_releases_pods(two_releases):
    pods = {release: _pods(docs) for release, docs in two_releases.items()}
    for release, docs in two_releases.items():
        (other,) = set(pods) - {release}
        for doc in docs:
            for selector in _selectors(doc):
                own = [p for p, labels in pods[release].items() if selects(selector, labels)]
                if selector in NAMESPACE_WIDE_SELECTORS:
                    continue
                assert own, (doc["kind"], doc["metadata"]["name"], selector)  # a selector that picks nothing is a typo
                foreign = [p for p, labels in pods[other].items() if selects(selector, labels)]
                assert foreign == [], (doc["kind"], doc["metadata"]["name"], selector)
    # the role selectors do pick both releases' serving pods: what admits them is the role, not the release
    serving = {"matchLabels": {"app.kubernetes.io/component": "serving"}}
    assert all(any(selects(serving, labels) for labels in release_pods.values()) for release_pods in pods.values())


def test_the_other_release_points_its_pods_at_its_own_services(two_releases):
    config = _by_key(two_releases[OTHER_RELEASE])[("ConfigMap", f"{OTHER_RELEASE}-loyaltylens-config")]["data"]
    assert (
        config["LOYALTYLENS_MLFLOW_TRACKING_URI"] == f"http://{OTHER_RELEASE}-mlflow.loyaltylens.svc.cluster.local:5000"
    )
    assert config["LOYALTYLENS_POSTGRES_URL"] == (
        f"postgresql://loyaltylens@{OTHER_RELEASE}-postgres.loyaltylens.svc.cluster.local:5432/loyaltylens"
    )
    assert config["LOYALTYLENS_S3_ENDPOINT_URL"] == f"http://{OTHER_RELEASE}-minio.loyaltylens.svc.cluster.local:9000"
    isvc = _by_key(two_releases[OTHER_RELEASE])[("InferenceService", f"{OTHER_RELEASE}-propensity")]["spec"]
    # the model keeps its name inside the server: the transformer calls /v1/models/propensity on its predictor
    assert "--model_name=propensity" in isvc["predictor"]["containers"][0]["args"]
    assert "--model_name=propensity" in isvc["transformer"]["containers"][0]["args"]
