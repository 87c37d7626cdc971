"""Pod Security Standards, ``restricted`` profile, checked on rendered objects before any API server sees them.

The namespace enforces ``restricted`` (manifests/base/namespace.yaml), so a pod template that breaks it is
rejected at runtime, often long after ``kubectl apply`` printed success (a Deployment is admitted, its pods
are not). Checking the rendered templates names the object, the container and the rule up front.

Pod templates checked: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, and KServe's
InferenceService components (predictor, transformer, explainer: their containers and their ``model`` /
framework container) and ServingRuntime / ClusterServingRuntime containers.

Rules (the profile's, https://kubernetes.io/docs/concepts/security/pod-security-standards/, as far as they
apply to what this project renders):

- ``runAsNonRoot``: true for every container (its own securityContext, else the pod's); ``runAsUser`` not 0
- ``allowPrivilegeEscalation``: false, set on every container
- ``capabilities``: drop ``ALL``; add nothing but ``NET_BIND_SERVICE``
- ``seccompProfile``: ``RuntimeDefault`` or ``Localhost`` (container's, else the pod's)
- ``privileged``: not true; ``hostPorts``: none
- ``hostNamespaces``: no hostNetwork, hostPID, hostIPC
- ``hostPath`` volumes: none; ``volumeTypes``: only configMap, csi, downwardAPI, emptyDir, ephemeral,
  persistentVolumeClaim, projected, secret
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
ALLOWED_SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
KSERVE_COMPONENTS = ("predictor", "transformer", "explainer")
# Fields of a KServe component that are a container spec merged into the runtime's kserve-container.
KSERVE_MODEL_FIELDS = (
    "model", "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface", "pmml",
    "lightgbm", "paddle",
)  # fmt: skip
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class Violation:
    """One broken rule: the object (``Kind/name``, with the KServe component), the container (None for a
    pod-level rule), the rule's name and what was found."""

    obj: str
    container: str | None
    rule: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.obj} container {self.container}" if self.container else self.obj
        return f"{where}: {self.rule}: {self.detail}"


@dataclass(frozen=True)
class PodTemplate:
    """A pod-shaped part of a rendered object: pod-level fields and its (name, container) pairs."""

    obj: str
    pod: dict
    containers: list[tuple[str, dict]]


def _containers_of(pod: dict) -> list[tuple[str, dict]]:
    return [
        (c.get("name", f"{field}[{i}]"), c) for field in CONTAINER_LISTS for i, c in enumerate(pod.get(field) or [])
    ]


def pod_templates(doc: dict) -> list[PodTemplate]:
    """Every pod template in one rendered object (none for kinds that run no pods)."""
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    name = f"{kind}/{(doc.get('metadata') or {}).get('name', '?')}"
    if kind == "Pod":
        return [PodTemplate(name, spec, _containers_of(spec))]
    if kind in WORKLOAD_KINDS:
        pod = (spec.get("template") or {}).get("spec") or {}
        return [PodTemplate(name, pod, _containers_of(pod))]
    if kind == "CronJob":
        pod = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        return [PodTemplate(name, pod, _containers_of(pod))]
    if kind in ("ServingRuntime", "ClusterServingRuntime"):
        return [PodTemplate(name, spec, _containers_of(spec))]
    if kind == "InferenceService":
        templates = []
        for component in KSERVE_COMPONENTS:
            pod = spec.get(component)
            if pod is None:
                continue
            containers = _containers_of(pod) + [(field, pod[field]) for field in KSERVE_MODEL_FIELDS if field in pod]
            templates.append(PodTemplate(f"{name} ({component})", pod, containers))
        return templates
    return []


def _pod_violations(template: PodTemplate) -> Iterator[Violation]:
    pod = template.pod
    for field in HOST_NAMESPACES:
        if pod.get(field):
            yield Violation(template.obj, None, "hostNamespaces", f"{field} is true")
    for volume in pod.get("volumes") or []:
        for volume_type in set(volume) - {"name"}:
            if volume_type == "hostPath":
                yield Violation(template.obj, None, "hostPath", f"volume {volume.get('name')} is a hostPath")
            elif volume_type not in RESTRICTED_VOLUME_TYPES:
                yield Violation(
                    template.obj, None, "volumeTypes", f"volume {volume.get('name')} has type {volume_type}"
                )


def _container_violations(obj: str, pod_context: dict, name: str, container: dict) -> Iterator[Violation]:
    context = container.get("securityContext") or {}

    def effective(field: str) -> object:
        return context[field] if field in context else pod_context.get(field)

    if effective("runAsNonRoot") is not True:
        yield Violation(obj, name, "runAsNonRoot", "must be true (container or pod securityContext)")
    if effective("runAsUser") == 0:
        yield Violation(obj, name, "runAsUser", "must not be 0 (root)")
    if context.get("allowPrivilegeEscalation") is not False:
        yield Violation(obj, name, "allowPrivilegeEscalation", "must be set to false")
    if context.get("privileged"):
        yield Violation(obj, name, "privileged", "privileged containers are not allowed")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        yield Violation(obj, name, "capabilities", "must drop ALL")
    added = set(capabilities.get("add") or []) - ALLOWED_ADDED_CAPABILITIES
    if added:
        yield Violation(obj, name, "capabilities", f"may add only NET_BIND_SERVICE, adds {sorted(added)}")
    seccomp = (effective("seccompProfile") or {}).get("type")
    if seccomp not in ALLOWED_SECCOMP_TYPES:
        yield Violation(obj, name, "seccompProfile", f"must be RuntimeDefault or Localhost, is {seccomp}")
    host_ports = [p["hostPort"] for p in container.get("ports") or [] if p.get("hostPort")]
    if host_ports:
        yield Violation(obj, name, "hostPorts", f"uses host ports {host_ports}")


def check_template(template: PodTemplate) -> list[Violation]:
    """Every restricted-profile violation of one pod template."""
    pod_context = template.pod.get("securityContext") or {}
    found = list(_pod_violations(template))
    for name, container in template.containers:
        found.extend(_container_violations(template.obj, pod_context, name, container))
    return found


def restricted_violations(docs: Iterable[dict]) -> list[Violation]:
    """Every restricted-profile violation in the pod templates of ``docs`` (rendered objects)."""
    return [v for doc in docs for template in pod_templates(doc) for v in check_template(template)]
