"""The offer-chain InferenceGraph (manifests/base/offer-chain-graph.yaml, templates/inference-graph.yaml): valid
against the vendored KServe CRD, its step calls the offer API Service of the same render on the port and path the
API serves, the chart renders the kind overlay's graph and switches it off, the NetworkPolicies let the router
reach its step (and nothing else) and let the graph's callers reach the router, and the body shapes that keep the
propensity and generator InferenceServices out of the router's steps are what the manifest says they are."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.deploy.support.network_policy import ingress_allowed
from tests.deploy.support.render import helm_template, kustomize
from tests.deploy.support.validation import ManifestValidator

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "loyaltylens"
NAMESPACE = "loyaltylens"
GRAPH = ("InferenceGraph", "offer-chain")
HELM_ONLY_LABELS = ("app.kubernetes.io/managed-by", "helm.sh/chart", "app.kubernetes.io/version")
ROUTER_LABEL = "serving.kserve.io/inferencegraph"  # KServe labels the router's pods with the graph's name
ROUTER_PORT = 8080  # the KServe router's listening port (constants.RouterPort)

pytestmark = pytest.mark.skipif(not shutil.which("helm"), reason="needs helm and kubectl: make test installs them")


def _by_key(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


@pytest.fixture(scope="module")
def kind_overlay() -> dict[tuple[str, str], dict]:
    return _by_key(kustomize(REPO / "manifests" / "overlays" / "kind"))


@pytest.fixture(scope="module")
def staging() -> dict[tuple[str, str], dict]:
    """The chart installed as a second release, whose objects are all prefixed staging-."""
    return _by_key(helm_template(CHART, release="staging"))


def _steps(graph: dict) -> list[dict]:
    return [step for node in graph["spec"]["nodes"].values() for step in node["steps"]]


def test_the_graph_validates_against_the_crd_schema(kind_overlay, staging):
    validator = ManifestValidator()
    graphs = [kind_overlay[GRAPH], staging[("InferenceGraph", "staging-offer-chain")]]
    assert validator.all_errors(graphs) == []
    graph = graphs[0]
    assert graph["apiVersion"] == "serving.kserve.io/v1alpha1"
    assert set(graph["spec"]["nodes"]) == {"root"}  # the router enters the graph at the node named root
    assert graph["spec"]["nodes"]["root"]["routerType"] == "Sequence"
    assert graph["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"  # kind: no Knative
    # the schema is really applied: a misspelt step field and an unknown router type are errors
    misspelt = json.loads(json.dumps(graph))
    misspelt["spec"]["nodes"]["root"]["steps"][0]["serviceURL"] = misspelt["spec"]["nodes"]["root"]["steps"][0].pop(
        "serviceUrl"
    )
    misspelt["spec"]["nodes"]["root"]["routerType"] = "Chain"
    errors = validator.errors(misspelt)
    assert any("'serviceURL' was unexpected" in e for e in errors), errors
    assert any("'Chain' is not one of" in e for e in errors), errors


@pytest.mark.parametrize("render", ["kind_overlay", "staging"])
def test_every_step_calls_a_service_of_the_same_render_on_a_route_it_serves(render, request):
    docs = request.getfixturevalue(render)
    (graph,) = [doc for key, doc in docs.items() if key[0] == "InferenceGraph"]
    openapi = json.loads((REPO / "docs" / "offers-openapi.json").read_text())
    steps = _steps(graph)
    assert [step["name"] for step in steps] == ["decision"]
    for step in steps:
        assert "serviceName" not in step and "nodeName" not in step  # one target per step: a Service URL
        url = urlsplit(step["serviceUrl"])
        service_name, namespace, *rest = url.hostname.split(".")
        assert (namespace, rest) == (NAMESPACE, ["svc", "cluster", "local"]), url
        service = docs[("Service", service_name)]
        (port,) = [p for p in service["spec"]["ports"] if p["port"] == url.port]
        # the Service's target port is a container port of the pods it selects, and the path a POST route there
        deployment = docs[("Deployment", service_name)]
        assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert port["targetPort"] in {p["name"] for p in container["ports"]}
        assert container["command"] == ["python", "-m", "serving.offers"]
        assert "post" in openapi["paths"][url.path]
        assert step.get("data", "$request") == "$request"  # the graph's own request: customer ids
        assert step["dependency"] == "Hard"


def _comparable(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    for label in HELM_ONLY_LABELS:
        doc["metadata"]["labels"].pop(label)
    return doc


def test_the_chart_renders_the_overlay_graph_and_its_values_switch_it(kind_overlay):
    chart = _by_key(helm_template(CHART))
    for key in (GRAPH, ("NetworkPolicy", "offer-chain-ingress")):
        assert _comparable(chart[key]) == kind_overlay[key], key

    timeout = _by_key(helm_template(CHART, {"inferenceGraph.stepTimeoutSeconds": 20, "inferenceGraph.maxReplicas": 5}))
    assert timeout[GRAPH]["spec"]["routerTimeouts"]["serviceClient"] == 20
    assert timeout[GRAPH]["spec"]["maxReplicas"] == 5
    for off in ({"inferenceGraph.enabled": False}, {"offers.enabled": False}):
        docs = helm_template(CHART, off)
        assert not [d for d in docs if d["kind"] == "InferenceGraph" or d["metadata"]["name"] == "offer-chain-ingress"]
        assert ROUTER_LABEL not in json.dumps(docs), off  # no policy admits a router that is not there

    from loyaltylens.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="values don't meet the specifications of the schema"):
        helm_template(CHART, {"inferenceGraph.name": "Offer Chain"})


def _pod(docs: dict, kind: str, name: str, component: str | None = None) -> dict:
    """The labels of a pod of the render: a Deployment's template, or an InferenceService component (KServe adds
    serving.kserve.io/inferenceservice)."""
    doc = docs[(kind, name)]
    if kind in ("Deployment", "StatefulSet"):
        return doc["spec"]["template"]["metadata"]["labels"]
    return {**doc["spec"][component]["labels"], "serving.kserve.io/inferenceservice": name}


def test_the_network_policies_admit_the_router_to_its_step_and_its_callers_to_the_router(kind_overlay):
    policies = [d for d in kind_overlay.values() if d["kind"] == "NetworkPolicy"]
    router = {ROUTER_LABEL: "offer-chain"}
    offers = _pod(kind_overlay, "Deployment", "offers")

    def allowed(source: dict, target: dict, port: int, **kwargs) -> bool:
        return ingress_allowed(policies, namespace=NAMESPACE, target=target, source=source, port=port, **kwargs)

    # the router -> its step's pods, on the Service's target port, and nowhere else
    assert allowed(router, offers, 8060)
    assert not allowed(router, offers, 9999)
    assert not allowed({ROUTER_LABEL: "another-graph"}, offers, 8060)
    assert not allowed(router, _pod(kind_overlay, "StatefulSet", "postgres"), 5432)
    # the graph's callers -> the router: the project's pods and the KServe/Knative ingress, on the router's port
    for source, namespace in (
        ({"app.kubernetes.io/component": "serving"}, NAMESPACE),
        ({"app.kubernetes.io/component": "pipeline"}, NAMESPACE),
        ({"app": "activator"}, "knative-serving"),
        ({"app": "istio-ingressgateway"}, "istio-system"),
    ):
        assert allowed(source, router, ROUTER_PORT, source_namespace=namespace), (source, namespace)
    assert not allowed({"app.kubernetes.io/name": "anything-else"}, router, ROUTER_PORT)
    assert not allowed({"app.kubernetes.io/component": "serving"}, router, 9999)
    # the decision step -> the InferenceServices it calls when configured to (predictor v2, generator OpenAI routes)
    for isvc in ("propensity", "generator"):
        assert allowed(offers, _pod(kind_overlay, "InferenceService", isvc, "predictor"), 8080), isvc
    feedback_like = {"app.kubernetes.io/name": "feedback", "app.kubernetes.io/component": "serving"}
    assert not allowed(feedback_like, _pod(kind_overlay, "InferenceService", "propensity", "predictor"), 8080)


def test_each_release_admits_only_its_own_router(staging):
    policies = [d for d in staging.values() if d["kind"] == "NetworkPolicy"]
    staging_offers = _pod(staging, "Deployment", "staging-offers")
    (graph,) = [d for (kind, _), d in staging.items() if kind == "InferenceGraph"]
    assert graph["metadata"]["name"] == "staging-offer-chain"
    assert urlsplit(_steps(graph)[0]["serviceUrl"]).hostname.startswith("staging-offers.")
    assert ingress_allowed(
        policies, namespace=NAMESPACE, target=staging_offers, source={ROUTER_LABEL: "staging-offer-chain"}, port=8060
    )
    assert not ingress_allowed(
        policies, namespace=NAMESPACE, target=staging_offers, source={ROUTER_LABEL: "offer-chain"}, port=8060
    )


def test_the_bodies_that_keep_propensity_and_the_generator_out_of_the_router_steps():
    """What offer-chain-graph.yaml says about the router's two body choices ($request, $response)."""
    from pydantic import ValidationError

    from loyaltylens.decision.offers import OffersRequest
    from loyaltylens.errors import InvalidInputError
    from loyaltylens.runtime.codec import decode_v1_customer_ids

    graph_request = {"customer_ids": [3, 5]}
    assert OffersRequest.model_validate(graph_request).customer_ids == [3, 5]  # the decision step's body
    # Scoring pairs through the transformer needs offer ids, which the offer API refuses, so no $request fits both.
    pairs = {"customer_ids": [3, 3], "offer_ids": [7, 9]}
    assert decode_v1_customer_ids(pairs, max_batch_size=10).offer_ids.tolist() == [7, 9]
    with pytest.raises(ValidationError, match="offer_ids"):
        OffersRequest.model_validate(pairs)
    # Nor does a $response fit: the transformer's answer is no offer API request, and the decision's answer is no
    # transformer or generator request.
    scored = {"predictions": [{"customer_id": 3, "offer_id": 7, "propensity": 0.1}], "feature_version": "v1"}
    with pytest.raises(ValidationError):
        OffersRequest.model_validate(scored)
    decided = {"request_id": "r-1", "decisions": []}
    with pytest.raises(InvalidInputError, match="customer_ids"):
        decode_v1_customer_ids(decided, max_batch_size=10)

    from kserve.errors import InvalidInput

    from serving.generator.model import GeneratorModel

    generator = GeneratorModel("generator", REPO / "no-model", max_batch_size=8, max_batch_rows=8, batch_window_s=0.01)
    with pytest.raises(InvalidInput, match="instances"):
        asyncio.run(generator.predict(decided))
