"""Vertex AI target (``google-cloud-aiplatform``): the serve image as a Vertex Model, deployed to an Endpoint
with a traffic split; the project's compiled KFP pipelines as Vertex ``PipelineJob``s; the offer embeddings
in Vertex AI Vector Search (``MatchingEngineIndex``), the cloud twin of the pgvector store.

The Model is the serve image with KServe's routes as Vertex's predict and health routes, so a Vertex
``predict`` ({"instances": [...]}) reaches the container as a KServe v1 request. The container loads the model
from the MLflow registry named in its env, like on KServe. Deploying to an endpoint that already serves a
model gives the new one ``canary_percent`` of the traffic (Vertex scales the others down proportionally), or
all of it with 0. Credentials: Google application-default credentials, never the spec.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import yaml

from loyaltylens.deploy.kserve import health_route, model_args, predict_route
from loyaltylens.deploy.sizing import VERTEX_MACHINES, InstanceType, choose
from loyaltylens.deploy.spec import DeploymentSpec, Protocol, Target
from loyaltylens.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from loyaltylens.retrieval.embeddings import TextEmbedder

logger = logging.getLogger(__name__)

# The compiled pipelines ship in the wheel's `pipelines` package: found from a checkout or an install alike.
PIPELINES_DIR = Path(importlib.util.find_spec("pipelines").origin).parent
DEPLOYMENT_LABEL = "loyaltylens-deployment"
RESTRICT_KEYS = ("channel", "category")  # the offer filters Vector Search can apply (token restricts)


@dataclass(frozen=True)
class VertexPlan:
    """The SDK calls one deploy makes, rendered from the spec (see ``render_plan``)."""

    machine: InstanceType
    upload: dict  # aiplatform.Model.upload keyword arguments
    deploy: dict  # Endpoint.deploy keyword arguments, without the model and the traffic share


def machine_for(spec: DeploymentSpec) -> InstanceType:
    return choose(VERTEX_MACHINES, spec.resources, spec.vertex.machine_type, "Vertex AI")


def render_plan(spec: DeploymentSpec) -> VertexPlan:
    spec = spec.for_target(Target.VERTEX)
    machine = machine_for(spec)
    labels = {DEPLOYMENT_LABEL: spec.name}
    upload = {
        "display_name": spec.name,
        "serving_container_image_uri": spec.container.image,
        "serving_container_command": list(spec.container.command),
        "serving_container_args": model_args(spec, mounted_dir=None),
        "serving_container_environment_variables": dict(spec.container.env),
        "serving_container_ports": [spec.container.port],
        "serving_container_predict_route": predict_route(spec),
        "serving_container_health_route": health_route(spec),
        "labels": labels,
    }
    deploy = {
        "deployed_model_display_name": f"{spec.name}-{spec.model.name}",
        "machine_type": machine.name,
        "min_replica_count": spec.replicas.min,
        "max_replica_count": spec.replicas.max,
        "service_account": spec.vertex.service_account,
    }
    if machine.accelerator:
        deploy |= {"accelerator_type": machine.accelerator, "accelerator_count": machine.gpu}
    return VertexPlan(machine, upload, deploy)


def traffic_percentage(spec: DeploymentSpec, serving_now: bool) -> int:
    """The new model's share: the canary's next to a model already serving, otherwise all of it."""
    return spec.canary_percent if serving_now and spec.canary_percent else 100


def pipeline_documents(template: Path) -> tuple[dict, dict | None]:
    """A compiled KFP file's pipeline IR and, if present, its platform config (the second YAML document)."""
    documents = [d for d in yaml.safe_load_all(Path(template).read_text()) if d]
    if not documents or "pipelineInfo" not in documents[0]:
        raise InvalidInputError(f"{template} is not a compiled KFP pipeline (no pipelineInfo)")
    return documents[0], documents[1] if len(documents) > 1 else None


def pipeline_templates(pipelines_dir: Path = PIPELINES_DIR) -> list[Path]:
    """Every compiled pipeline (``pipelines/*.yaml``), so a new pipeline is submitted without a code change."""
    return sorted(Path(pipelines_dir).glob("*.yaml"))


class VertexDeployer:
    """deploy / status / invoke / teardown of one spec's endpoint, plus pipeline and vector-index submission.

    ``api_endpoint``, ``api_transport`` and ``credentials`` pass through to ``aiplatform.init``; by default
    the SDK uses the regional endpoint, gRPC and application-default credentials.
    """

    def __init__(
        self, spec: DeploymentSpec, api_endpoint: str | None = None, api_transport: str | None = None, credentials=None
    ):
        self.spec = spec.for_target(Target.VERTEX)
        machine_for(self.spec)  # a spec no machine fits fails here, before any API call
        from google.cloud import aiplatform

        self.aiplatform = aiplatform
        aiplatform.init(
            project=self.spec.vertex.project,
            location=self.spec.vertex.location,
            credentials=credentials,
            api_endpoint=api_endpoint,
            api_transport=api_transport,
        )

    # --- serving -------------------------------------------------------------------------------------
    def deploy(self) -> VertexPlan:
        """Upload the Model, find or create the Endpoint, deploy with the spec's traffic share."""
        plan = render_plan(self.spec)
        model = self.aiplatform.Model.upload(**plan.upload, sync=True)
        endpoint = self._endpoint()
        if endpoint is None:
            endpoint = self.aiplatform.Endpoint.create(
                display_name=self.spec.name, labels={DEPLOYMENT_LABEL: self.spec.name}, sync=True
            )
        serving_now = bool(endpoint.traffic_split)
        endpoint.deploy(
            model=model, traffic_percentage=traffic_percentage(self.spec, serving_now), sync=True, **plan.deploy
        )
        if serving_now and not self.spec.canary_percent:
            # A full rollout: the models deployed before get no traffic and are removed.
            for deployed in endpoint.list_models():
                if deployed.model != model.resource_name:
                    endpoint.undeploy(deployed_model_id=deployed.id, sync=True)
        return plan

    def status(self) -> dict:
        endpoint = self._require_endpoint()
        return {
            "name": self.spec.name,
            "endpoint": endpoint.resource_name,
            "traffic_split": dict(endpoint.traffic_split),
            "deployed_models": [m.display_name for m in endpoint.list_models()],
        }

    def invoke(self, payload: dict) -> dict:
        """One request. KServe v1: a Vertex ``predict`` (``{"instances": [...]}`` reaches the v1 route as is).
        Other protocols (v2, OpenAI) have their own body shapes, which ``predict`` would wrap, so they go
        through ``rawPredict``, which forwards the body untouched."""
        endpoint = self._require_endpoint()
        if self.spec.model.protocol is not Protocol.V1:
            response = endpoint.raw_predict(
                body=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
            )
            if response.status_code >= 400:
                raise InvalidInputError(f"{self.spec.name}: HTTP {response.status_code} {response.text[:500]}")
            return response.json()
        if "instances" not in payload:
            raise InvalidInputError('Vertex predict takes a JSON object with an "instances" list')
        prediction = endpoint.predict(instances=payload["instances"])
        return {"predictions": list(prediction.predictions), "deployed_model_id": prediction.deployed_model_id}

    def teardown(self) -> list[str]:
        """Undeploy and delete the endpoint (the running cost), then delete this deployment's Models."""
        deleted = []
        endpoint = self._endpoint()
        if endpoint is not None:
            name = endpoint.resource_name  # read first: the SDK re-fetches a deleted resource on access
            endpoint.undeploy_all(sync=True)
            endpoint.delete(sync=True)
            deleted.append(f"endpoint {name}")
        for model in self.aiplatform.Model.list(filter=f"labels.{DEPLOYMENT_LABEL}={self.spec.name}"):
            name = model.resource_name
            model.delete(sync=True)
            deleted.append(f"model {name}")
        return deleted

    # --- pipelines and vector search -----------------------------------------------------------------
    def submit_pipelines(self, pipelines_dir: Path = PIPELINES_DIR, parameter_values: dict | None = None) -> list:
        """Submit every compiled KFP pipeline in ``pipelines_dir`` as a Vertex PipelineJob (not waited on).

        The pipeline IR goes as compiled. A second YAML document, KFP's Kubernetes platform config
        (ConfigMap env, secrets, volumes from ``kfp-kubernetes``), has no Vertex counterpart: it is left out
        and logged, so on Vertex the settings those ConfigMaps carry must come from ``parameter_values``.
        """
        templates = pipeline_templates(pipelines_dir)
        if not templates:
            raise NotFoundError(f"no compiled pipelines (*.yaml) in {pipelines_dir}")
        jobs = []
        with tempfile.TemporaryDirectory() as scratch:
            for template in templates:
                pipeline_spec, platform_spec = pipeline_documents(template)
                if platform_spec:
                    logger.warning("%s: Kubernetes platform config not applicable on Vertex, left out", template.name)
                # The SDK reads templates with yaml.safe_load, which refuses multi-document files.
                ir_path = Path(scratch) / template.name
                ir_path.write_text(yaml.safe_dump(pipeline_spec, sort_keys=False))
                job = self.aiplatform.PipelineJob(
                    display_name=f"{self.spec.name}-{template.stem}",
                    template_path=str(ir_path),
                    pipeline_root=self.spec.vertex.pipeline_root,
                    parameter_values=parameter_values or {},
                    labels={DEPLOYMENT_LABEL: self.spec.name},
                    enable_caching=None,  # None keeps each task's compiled caching choice, i.e. the IR as is
                )
                job.submit(service_account=self.spec.vertex.service_account)
                jobs.append(job)
        return jobs

    def index_offers(self, offers: pd.DataFrame, embedder: TextEmbedder):
        """The offer catalog as the pgvector store holds it (same documents, same MiniLM text embedding),
        in a Vertex Vector Search index, with ``channel`` and ``category`` restricts for filtering."""
        from loyaltylens.retrieval.base import offer_documents

        documents = offer_documents(offers)
        vectors = embedder.embed([document.search_text for document in documents])
        restricts = {
            document.node_id: {key: [document.metadata[key]] for key in RESTRICT_KEYS} for document in documents
        }
        return self.index_offer_embeddings([d.node_id for d in documents], vectors, restricts)

    def index_offer_embeddings(
        self,
        offer_ids: list[str],
        embeddings: np.ndarray,
        restricts: dict[str, dict[str, list[str]]] | None = None,
    ):
        """A stream-updated Vector Search index of the offer embeddings (unit vectors, so dot product is
        cosine, as in the pgvector store); ``restricts`` maps offer id -> namespace -> allowed tokens.
        Deploying the index to an IndexEndpoint (the part that costs by the hour) is left to the operator."""
        from google.cloud.aiplatform_v1.types import IndexDatapoint

        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(offer_ids) or not len(offer_ids):
            raise InvalidInputError(
                f"expected one embedding row per offer id, got {list(embeddings.shape)} for {len(offer_ids)} ids"
            )
        index = self.aiplatform.MatchingEngineIndex.create_tree_ah_index(
            display_name=f"{self.spec.name}-offers",
            dimensions=int(embeddings.shape[1]),
            approximate_neighbors_count=10,
            distance_measure_type="DOT_PRODUCT_DISTANCE",
            index_update_method="STREAM_UPDATE",
            labels={DEPLOYMENT_LABEL: self.spec.name},
            sync=True,
        )
        restricts = restricts or {}
        datapoints = [
            IndexDatapoint(
                datapoint_id=str(offer_id),
                feature_vector=vector.tolist(),
                restricts=[
                    IndexDatapoint.Restriction(namespace=namespace, allow_list=tokens)
                    for namespace, tokens in restricts.get(offer_id, {}).items()
                ],
            )
            for offer_id, vector in zip(offer_ids, embeddings, strict=True)
        ]
        index.upsert_datapoints(datapoints=datapoints)
        return index

    # --- helpers -------------------------------------------------------------------------------------
    def _endpoint(self):
        found = self.aiplatform.Endpoint.list(filter=f'display_name="{self.spec.name}"')
        return found[0] if found else None

    def _require_endpoint(self):
        endpoint = self._endpoint()
        if endpoint is None:
            raise NotFoundError(f"Vertex endpoint {self.spec.name} does not exist in {self.spec.vertex.location}")
        return endpoint
