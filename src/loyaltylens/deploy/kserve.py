"""KServe target: a ``DeploymentSpec`` as an InferenceService, applied with the kubernetes client when a
kubeconfig is present, otherwise written as YAML for ``kubectl apply -f``.

Where the model comes from decides the predictor's shape: a storage URI (``s3://``, ``gs://``, ``pvc://``)
is downloaded by KServe's storage initializer to ``/mnt/models`` (through the ``loyaltylens-propensity``
ServingRuntime for TorchScript models, through ``STORAGE_URI`` for a self-serving container); a registry URI
(``models:/…``) is passed to the serve image, which downloads it from the MLflow server named in its env.
A canary is ``canaryTrafficPercent``: KServe keeps the previous revision for the rest of the traffic.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from loyaltylens.deploy.spec import ArtifactScheme, DeploymentSpec, Protocol, Runtime, Target
from loyaltylens.errors import LoyaltyLensError, NotFoundError

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
API_VERSION = f"{GROUP}/{VERSION}"
MOUNTED_MODEL_DIR = "/mnt/models"  # where the storage initializer puts a storage URI's contents
KUBECONFIG_DEFAULT = Path("~/.kube/config")
_RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
_RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def predict_route(spec: DeploymentSpec) -> str:
    """The model's prediction path on its server, per protocol (KServe v1, Open Inference v2, OpenAI)."""
    name = spec.model.name
    return {
        Protocol.V1: f"/v1/models/{name}:predict",
        Protocol.V2: f"/v2/models/{name}/infer",
        Protocol.OPENAI: "/openai/v1/chat/completions",
    }[spec.model.protocol]


def health_route(spec: DeploymentSpec) -> str:
    """KServe's per-model readiness route; every ModelServer answers it whatever the protocol."""
    return f"/v1/models/{spec.model.name}"


def model_args(spec: DeploymentSpec, mounted_dir: str | None) -> list[str]:
    """The serve image's flags: the model's name and where to load it from, then the spec's own args."""
    location = f"--model_dir={mounted_dir}" if mounted_dir else f"--model_uri={spec.model.artifact_uri}"
    return [f"--model_name={spec.model.name}", location, f"--http_port={spec.container.port}", *spec.container.args]


def resource_quantities(spec: DeploymentSpec) -> dict:
    """Requests = limits (a Guaranteed pod), so the replica has exactly what the cloud instances are sized for."""
    amounts = {"cpu": f"{spec.resources.cpu:g}", "memory": f"{spec.resources.memory_gib:g}Gi"}
    if spec.resources.gpu:
        amounts["nvidia.com/gpu"] = str(spec.resources.gpu)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def render_inference_service(spec: DeploymentSpec) -> dict:
    """The InferenceService for ``spec`` (validated for KServe first)."""
    spec = spec.for_target(Target.KSERVE)
    storage = spec.scheme in (ArtifactScheme.S3, ArtifactScheme.GCS, ArtifactScheme.PVC)
    predictor: dict = {
        "minReplicas": spec.replicas.min,
        "maxReplicas": spec.replicas.max,
        # The label the NetworkPolicies select serving pods by (manifests/base).
        "labels": {"app.kubernetes.io/component": "serving"},
        "securityContext": dict(_RESTRICTED_POD),
    }
    if spec.kserve.service_account:
        predictor |= {"serviceAccountName": spec.kserve.service_account, "automountServiceAccountToken": False}
    if spec.replicas.target_concurrency:
        predictor |= {"scaleMetric": "concurrency", "scaleTarget": spec.replicas.target_concurrency}
    if spec.canary_percent:
        predictor["canaryTrafficPercent"] = spec.canary_percent
    if storage and spec.model.runtime is Runtime.TORCHSCRIPT:
        # The ServingRuntime (manifests/base/propensity-runtime.yaml) owns image, command and args.
        predictor["model"] = {
            "modelFormat": {"name": "loyaltylens-propensity"},
            "runtime": spec.kserve.serving_runtime,
            "protocolVersion": "v2" if spec.model.protocol is Protocol.V2 else "v1",
            "storageUri": spec.model.artifact_uri,
            "resources": resource_quantities(spec),
            "securityContext": dict(_RESTRICTED_CONTAINER),
        }
    else:
        env = [{"name": k, "value": v} for k, v in sorted(spec.container.env.items())]
        if storage:
            env.append({"name": "STORAGE_URI", "value": spec.model.artifact_uri})
        port = spec.container.port
        predictor["containers"] = [
            {
                "name": "kserve-container",
                "image": spec.container.image,
                "command": list(spec.container.command),
                "args": model_args(spec, MOUNTED_MODEL_DIR if storage else None),
                "env": env,
                **({"envFrom": [{"configMapRef": {"name": spec.kserve.config_map}}]} if spec.kserve.config_map else {}),
                "ports": [{"name": "http1", "containerPort": port, "protocol": "TCP"}],
                "resources": resource_quantities(spec),
                "readinessProbe": {"httpGet": {"path": health_route(spec), "port": port}, "periodSeconds": 5},
                "livenessProbe": {
                    "httpGet": {"path": "/v2/health/live", "port": port},
                    "initialDelaySeconds": 30,
                    "periodSeconds": 10,
                },
                "securityContext": dict(_RESTRICTED_CONTAINER),
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ]
        predictor["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": {
            "name": spec.name,
            "namespace": spec.kserve.namespace,
            "labels": {"app.kubernetes.io/part-of": "loyaltylens", "loyaltylens/model": spec.model.name},
        },
        "spec": {"predictor": predictor},
    }


def to_yaml(document: dict) -> str:
    return yaml.safe_dump(document, sort_keys=False)


def kubeconfig_path() -> Path | None:
    """The kubeconfig the kubernetes client would use, if there is one."""
    candidate = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(KUBECONFIG_DEFAULT)
    path = Path(candidate).expanduser()
    return path if path.is_file() else None


class KServeDeployer:
    """Applies, reads and deletes the spec's InferenceService through the Kubernetes API (CustomObjectsApi)."""

    def __init__(self, spec: DeploymentSpec, api=None):
        self.spec = spec.for_target(Target.KSERVE)
        self._api = api

    @property
    def api(self):
        if self._api is None:
            from kubernetes import client, config

            config.load_kube_config()  # the standard chain: $KUBECONFIG, ~/.kube/config
            self._api = client.CustomObjectsApi()
        return self._api

    def _call(self, method: str, **kwargs):
        from kubernetes.client.exceptions import ApiException

        try:
            return getattr(self.api, method)(
                group=GROUP, version=VERSION, namespace=self.spec.kserve.namespace, plural=PLURAL, **kwargs
            )
        except ApiException as exc:
            if exc.status == 404:
                raise NotFoundError(
                    f"InferenceService {self.spec.kserve.namespace}/{self.spec.name} does not exist"
                ) from None
            raise LoyaltyLensError(f"Kubernetes API {method}: HTTP {exc.status} {exc.reason}") from None

    def deploy(self) -> dict:
        """Create the InferenceService, or replace it (a new revision, a canary if the spec says so).

        Replace rather than merge-patch: the spec owns the whole object, so a field it no longer renders
        (``canaryTrafficPercent`` when a canary is promoted) must go, which a merge patch would keep.
        """
        body = render_inference_service(self.spec)
        try:
            current = self._call("get_namespaced_custom_object", name=self.spec.name)
        except NotFoundError:
            return self._call("create_namespaced_custom_object", body=body)
        body["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
        return self._call("replace_namespaced_custom_object", name=self.spec.name, body=body)

    def status(self) -> dict:
        obj = self._call("get_namespaced_custom_object", name=self.spec.name)
        status = obj.get("status", {})
        return {
            "name": self.spec.name,
            "url": status.get("url"),
            "ready": any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])),
            "traffic": status.get("components", {}).get("predictor", {}).get("traffic", []),
        }

    def invoke(self, payload: dict) -> dict:
        import httpx

        url = self.status()["url"]
        if not url:
            raise LoyaltyLensError(f"InferenceService {self.spec.name} has no URL yet (not ready)")
        response = httpx.post(url.rstrip("/") + predict_route(self.spec), json=payload, timeout=30)
        if response.is_error:
            raise LoyaltyLensError(f"{self.spec.name}: HTTP {response.status_code} {response.text}")
        return response.json()

    def teardown(self) -> None:
        self._call("delete_namespaced_custom_object", name=self.spec.name)
