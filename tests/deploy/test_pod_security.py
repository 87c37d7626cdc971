"""The restricted Pod Security check names each violation: a deliberately broken copy of a rendered object
yields exactly the broken rule, on the right object and container, and nothing else."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy.support.pod_security import Violation, pod_templates, restricted_violations
from tests.deploy.support.render import kustomize

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in kustomize(REPO / "manifests" / "overlays" / "kind")}


def _pod(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def _context(container: dict) -> dict:
    return container.setdefault("securityContext", {})


# (object key, how to break it, the violations expected as (object, container, rule))
BREAKAGES: dict[str, tuple[tuple[str, str], Callable[[dict], None], set[tuple[str, str | None, str]]]] = {
    "container runs as root": (
        ("Deployment", "mlflow"),
        lambda d: _context(_pod(d)["containers"][0]).update(runAsNonRoot=False),
        {("Deployment/mlflow", "mlflow", "runAsNonRoot")},
    ),
    "pod without runAsNonRoot": (
        ("Deployment", "minio"),
        lambda d: _pod(d)["securityContext"].pop("runAsNonRoot"),
        {("Deployment/minio", "minio", "runAsNonRoot")},
    ),
    "uid 0": (
        ("Deployment", "mlflow"),
        lambda d: _pod(d)["securityContext"].update(runAsUser=0),
        {("Deployment/mlflow", "mlflow", "runAsUser")},
    ),
    "privilege escalation": (
        ("StatefulSet", "postgres"),
        lambda d: _context(_pod(d)["containers"][0]).update(allowPrivilegeEscalation=True),
        {("StatefulSet/postgres", "postgres", "allowPrivilegeEscalation")},
    ),
    "privileged": (
        ("StatefulSet", "postgres"),
        lambda d: _context(_pod(d)["containers"][0]).update(privileged=True),
        {("StatefulSet/postgres", "postgres", "privileged")},
    ),
    "capability added": (
        ("Deployment", "minio"),
        lambda d: _context(_pod(d)["containers"][0])["capabilities"].update(add=["NET_BIND_SERVICE", "SYS_ADMIN"]),
        {("Deployment/minio", "minio", "capabilities")},
    ),
    "capabilities not dropped": (
        ("Job", "minio-bucket"),
        lambda d: _context(_pod(d)["containers"][0]).pop("capabilities"),
        {("Job/minio-bucket", "mc", "capabilities")},
    ),
    "seccomp unconfined": (
        ("Deployment", "mlflow"),
        lambda d: _context(_pod(d)["containers"][0]).update(seccompProfile={"type": "Unconfined"}),
        {("Deployment/mlflow", "mlflow", "seccompProfile")},
    ),
    "host network": (
        ("StatefulSet", "postgres"),
        lambda d: _pod(d).update(hostNetwork=True),
        {("StatefulSet/postgres", None, "hostNamespaces")},
    ),
    "hostPath volume": (
        ("Deployment", "minio"),
        lambda d: _pod(d)["volumes"].append({"name": "host", "hostPath": {"path": "/data"}}),
        {("Deployment/minio", None, "hostPath")},
    ),
    "volume type outside the profile": (
        ("Deployment", "minio"),
        lambda d: _pod(d)["volumes"].append({"name": "share", "nfs": {"server": "nfs", "path": "/"}}),
        {("Deployment/minio", None, "volumeTypes")},
    ),
    "host port": (
        ("Deployment", "mlflow"),
        lambda d: _pod(d)["containers"][0]["ports"][0].update(hostPort=5000),
        {("Deployment/mlflow", "mlflow", "hostPorts")},
    ),
    "init container without hardening": (
        ("Job", "minio-bucket"),
        lambda d: _pod(d).update(initContainers=[{"name": "wait", "image": "busybox"}]),
        {("Job/minio-bucket", "wait", "allowPrivilegeEscalation"), ("Job/minio-bucket", "wait", "capabilities")},
    ),
    "transformer as root": (
        ("InferenceService", "propensity"),
        lambda d: _context(d["spec"]["transformer"]["containers"][0]).update(runAsNonRoot=False),
        {("InferenceService/propensity (transformer)", "kserve-container", "runAsNonRoot")},
    ),
    "TorchServe model container escalates": (
        ("InferenceService", "propensity-torchserve"),
        lambda d: d["spec"]["predictor"]["model"]["securityContext"].update(allowPrivilegeEscalation=True),
        {("InferenceService/propensity-torchserve (predictor)", "model", "allowPrivilegeEscalation")},
    ),
    "ServingRuntime without seccomp": (
        ("ServingRuntime", "loyaltylens-propensity"),
        lambda d: d["spec"]["containers"][0]["securityContext"].pop("seccompProfile"),
        {("ServingRuntime/loyaltylens-propensity", "kserve-container", "seccompProfile")},
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_copy_names_the_violation(objects, breakage):
    key, breaks, expected = BREAKAGES[breakage]
    broken = copy.deepcopy(objects[key])
    breaks(broken)
    found = restricted_violations([broken])
    assert {(v.obj, v.container, v.rule) for v in found} == expected, [str(v) for v in found]
    assert restricted_violations([objects[key]]) == []  # the original is clean


def test_unhardened_container_breaks_every_container_rule():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "naive"}, "spec": {"containers": [{"name": "app"}]}}
    rules = {v.rule for v in restricted_violations([pod])}
    assert rules == {"runAsNonRoot", "allowPrivilegeEscalation", "capabilities", "seccompProfile"}


def test_violation_message_names_object_container_and_rule():
    violation = Violation("Deployment/mlflow", "mlflow", "runAsNonRoot", "must be true")
    assert str(violation) == "Deployment/mlflow container mlflow: runAsNonRoot: must be true"
    assert (
        str(Violation("Deployment/minio", None, "hostPath", "volume host")) == "Deployment/minio: hostPath: volume host"
    )


def test_every_pod_bearing_kind_is_found():
    container = {"name": "c"}
    pod_spec = {"containers": [container]}
    docs = [
        {
            "kind": "CronJob",
            "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}},
        },
        {"kind": "DaemonSet", "metadata": {"name": "d"}, "spec": {"template": {"spec": pod_spec}}},
        {"kind": "InferenceService", "metadata": {"name": "i"}, "spec": {"predictor": {"sklearn": container}}},
        {"kind": "ConfigMap", "metadata": {"name": "m"}, "data": {}},
    ]
    assert [t.obj for doc in docs for t in pod_templates(doc)] == [
        "CronJob/c",
        "DaemonSet/d",
        "InferenceService/i (predictor)",
    ]
