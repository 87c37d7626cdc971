"""Schema validation catches what the API server would reject (or silently drop): a deliberately broken copy
of each kind of rendered object fails, with the object and the field named. The KServe schemas are the
package's own copy, so this runs on a fresh clone with nothing beside it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from loyaltylens.errors import InvalidInputError
from tests.deploy.support import validation
from tests.deploy.support.network_policy import ingress_allowed
from tests.deploy.support.render import helm_template, kustomize
from tests.deploy.support.validation import ManifestValidator, kserve_validator, kubernetes_errors

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in kustomize(REPO / "manifests" / "overlays" / "kind")}


@pytest.fixture(scope="module")
def validator() -> ManifestValidator:
    return ManifestValidator()


def _pod(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def _rename(mapping: dict, old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


# (object key, how to break it, text every error must contain: the object and the offending field)
BREAKAGES: dict[str, tuple[tuple[str, str], Callable[[dict], None], tuple[str, ...]]] = {
    "Deployment: misspelt container field": (
        ("Deployment", "mlflow"),
        lambda d: _rename(_pod(d)["containers"][0], "image", "imagee"),
        ("Deployment/mlflow", "spec/template/spec/containers/0", "imagee"),
    ),
    "Deployment: wrong type": (
        ("Deployment", "minio"),
        lambda d: d["spec"].update(replicas="one"),
        ("Deployment/minio", "spec/replicas", "'one'"),
    ),
    "StatefulSet: misspelt securityContext field": (
        ("StatefulSet", "postgres"),
        lambda d: _rename(_pod(d)["securityContext"], "runAsNonRoot", "runAsNonroot"),
        ("StatefulSet/postgres", "securityContext", "runAsNonroot"),
    ),
    "ConfigMap: non-string value": (
        ("ConfigMap", "loyaltylens-config"),
        lambda d: d["data"].update(LOYALTYLENS_S3_ENDPOINT_URL=9000),
        ("ConfigMap/loyaltylens-config", "data/LOYALTYLENS_S3_ENDPOINT_URL"),
    ),
    "NetworkPolicy: misspelt rule field": (
        ("NetworkPolicy", "mlflow-ingress"),
        lambda d: _rename(d["spec"]["ingress"][0], "from", "form"),
        ("NetworkPolicy/mlflow-ingress", "form"),
    ),
    "Role: wrong type": (
        ("Role", "loyaltylens-pipeline"),
        lambda d: d["rules"][0].update(verbs="get"),
        ("Role/loyaltylens-pipeline", "rules/0/verbs"),
    ),
    "InferenceService: misspelt container field": (
        ("InferenceService", "propensity"),
        lambda d: _rename(d["spec"]["predictor"]["containers"][0], "image", "imagee"),
        ("InferenceService/propensity", "spec/predictor/containers/0", "imagee"),
    ),
    "InferenceService: misspelt metadata field": (
        ("InferenceService", "propensity"),
        lambda d: _rename(d["metadata"], "annotations", "anotations"),
        ("InferenceService/propensity", "metadata", "anotations"),
    ),
    "InferenceService: wrong type": (
        ("InferenceService", "propensity"),
        lambda d: d["spec"]["predictor"].update(minReplicas="one"),
        ("InferenceService/propensity", "spec/predictor/minReplicas"),
    ),
    "InferenceService: missing predictor": (
        ("InferenceService", "propensity-torchserve"),
        lambda d: d["spec"].pop("predictor"),
        ("InferenceService/propensity-torchserve", "predictor"),
    ),
    "ServingRuntime: misspelt field": (
        ("ServingRuntime", "loyaltylens-propensity"),
        lambda d: _rename(d["spec"], "supportedModelFormats", "supportedModelFormat"),
        ("ServingRuntime/loyaltylens-propensity", "supportedModelFormat"),
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_copy_fails_naming_object_and_field(objects, validator, breakage):
    key, breaks, named = BREAKAGES[breakage]
    broken = copy.deepcopy(objects[key])
    breaks(broken)
    errors = validator.errors(broken)
    assert errors, f"{breakage}: validated"
    assert any(all(part in error for part in named) for error in errors), errors
    assert validator.errors(objects[key]) == []


def test_unknown_kind_is_an_error():
    assert kubernetes_errors({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}) != []
    assert kserve_validator().errors({"apiVersion": "serving.kserve.io/v9", "kind": "InferenceService"}) == [
        "no CRD schema for ('serving.kserve.io/v9', 'InferenceService')"
    ]


def test_kserve_schemas_are_vendored_package_data():
    schema_dir = Path(str(validation.KSERVE_SCHEMA_DIR))
    assert schema_dir.is_relative_to(Path(validation.__file__).parent)
    assert "Apache License" in (schema_dir / "LICENSE").read_text()
    assert {("serving.kserve.io/v1beta1", "InferenceService"), ("serving.kserve.io/v1alpha1", "ServingRuntime")} <= set(
        kserve_validator().validators
    )


def test_broken_sources_fail_to_render_with_the_tool_message(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(InvalidInputError, match="missing.yaml"):
        kustomize(tmp_path)
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: broken\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text("kind: ConfigMap\n{{ .Values.nope.deeper }}\n")
    with pytest.raises(InvalidInputError, match="cm.yaml"):
        helm_template(chart)


def test_network_policy_evaluation_follows_the_api_semantics():
    def policy(ingress: list, selector: dict | None = None, types: list | None = None) -> dict:
        spec = {"podSelector": selector or {}, "ingress": ingress}
        if types is not None:
            spec["policyTypes"] = types
        return {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "ns"}, "spec": spec}

    app, db = {"app": "web"}, {"app": "db"}
    both = {"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {"matchLabels": app}}]}
    assert ingress_allowed([], namespace="ns", target=db, source=app)  # no policy: open
    assert not ingress_allowed([policy([])], namespace="ns", target=db, source=app)  # selected, no rule: deny
    assert ingress_allowed([policy([{}])], namespace="ns", target=db, source={})  # empty rule: everyone
    egress_only = policy([], types=["Egress"])
    assert ingress_allowed([egress_only], namespace="ns", target=db, source=app)
    # namespaceSelector and podSelector in one peer: both must match
    assert ingress_allowed(
        [policy([both])],
        namespace="ns",
        target=db,
        source=app,
        source_namespace="x",
        source_namespace_labels={"team": "a"},
    )
    assert not ingress_allowed([policy([both])], namespace="ns", target=db, source=app, source_namespace="x")
    # a podSelector alone admits pods of the policy's namespace only; ports must match when listed
    pods = {"from": [{"podSelector": {"matchLabels": app}}], "ports": [{"port": 5432, "protocol": "TCP"}]}
    assert ingress_allowed([policy([pods])], namespace="ns", target=db, source=app, port=5432)
    assert not ingress_allowed([policy([pods])], namespace="ns", target=db, source=app, port=80)
    assert not ingress_allowed([policy([pods])], namespace="ns", target=db, source=app, source_namespace="x")
    # a policy whose podSelector misses the target does not restrict it
    assert ingress_allowed([policy([], selector={"matchLabels": app})], namespace="ns", target=db, source={})
