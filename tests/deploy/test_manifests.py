"""The kustomize manifests render the platform with no shared disk, and every rendered object holds up:
core kinds validate strictly against the Kubernetes 1.37 OpenAPI schemas, KServe kinds against the vendored
KServe v0.20 CRDs, every container meets Pod Security "restricted", and the NetworkPolicies, evaluated on the
labels the workloads really carry, admit exactly the intended clients.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loyaltylens.kfp_runner.platform import CONFIG_MAP, CONFIG_MAP_KEYS, POD_LABEL, SECRET_KEYS
from tests.deploy.support.network_policy import ingress_allowed
from tests.deploy.support.pod_security import pod_templates, restricted_violations
from tests.deploy.support.render import kustomize
from tests.deploy.support.validation import ManifestValidator, load_documents

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
LAYERS = ["base", "overlays/kind"]
NAMESPACE = "loyaltylens"
CONFIG_KEYS = {
    "LOYALTYLENS_MLFLOW_TRACKING_URI": "http://mlflow.loyaltylens.svc.cluster.local:5000",
    "LOYALTYLENS_FEATURE_STORE_URI": "s3://loyaltylens/feature-store",
    "LOYALTYLENS_FEATURE_STORE_CATALOG": (
        "postgres:host=postgres.loyaltylens.svc.cluster.local port=5432 dbname=loyaltylens user=loyaltylens"
    ),
    "LOYALTYLENS_POSTGRES_URL": "postgresql://loyaltylens@postgres.loyaltylens.svc.cluster.local:5432/loyaltylens",
    "LOYALTYLENS_S3_ENDPOINT_URL": "http://minio.loyaltylens.svc.cluster.local:9000",
    "AWS_DEFAULT_REGION": "us-east-1",
    "LOYALTYLENS_DATA_DIR": "/tmp/loyaltylens",
}
PIPELINE_POD = dict([POD_LABEL])  # the label the KFP pipeline pods carry


@pytest.fixture(scope="module", params=LAYERS)
def rendered(request) -> list[dict]:
    return kustomize(MANIFESTS / request.param)


@pytest.fixture(scope="module")
def kind_objects() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in kustomize(MANIFESTS / "overlays/kind")}


@pytest.fixture(scope="module")
def validator() -> ManifestValidator:
    return ManifestValidator()


def test_every_rendered_object_validates(rendered, validator):
    assert validator.all_errors(rendered) == []


def test_every_manifest_file_validates_on_its_own(validator):
    """Each file under manifests/ (the other engineers' generator-* InferenceServices included) is valid
    before kustomize touches it."""
    docs = [
        doc
        for path in sorted(MANIFESTS.rglob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in load_documents(path.read_text())
    ]
    assert len(docs) >= 20
    assert validator.all_errors(docs) == []


def test_every_container_meets_restricted_pod_security(rendered):
    assert [str(v) for v in restricted_violations(rendered)] == []
    containers = [c for doc in rendered for t in pod_templates(doc) for c in t.containers]
    assert len(containers) >= 8  # postgres, minio, mc, mlflow, predictor, transformer, grpc, torchserve, runtime


def test_the_cluster_services_are_deployed(kind_objects):
    expected = {
        ("Namespace", "loyaltylens"),
        ("ConfigMap", "loyaltylens-config"),
        ("Deployment", "mlflow"),
        ("Service", "mlflow"),
        ("StatefulSet", "postgres"),
        ("Service", "postgres"),
        ("Deployment", "minio"),
        ("Service", "minio"),
        ("PersistentVolumeClaim", "minio-data"),
        ("Job", "minio-bucket"),
        ("InferenceService", "propensity"),
        ("InferenceService", "propensity-grpc"),
        ("InferenceService", "propensity-torchserve"),
        ("ServingRuntime", "loyaltylens-propensity"),
        ("Role", "loyaltylens-pipeline"),
        ("RoleBinding", "loyaltylens-pipeline"),
    } | {("ServiceAccount", f"loyaltylens-{w}") for w in ("pipeline", "serving", "mlflow", "postgres", "minio")}
    assert expected <= set(kind_objects)
    assert kind_objects[("Service", "mlflow")]["spec"]["ports"][0]["port"] == 5000
    assert kind_objects[("Service", "postgres")]["spec"]["clusterIP"] == "None"  # headless
    assert not any(kind == "Secret" for kind, _ in kind_objects)  # referenced only, never committed


def test_no_shared_disk(kind_objects):
    """State lives in services: the only volumes claimed are the services' own (MinIO, Postgres)."""
    claims = {name for kind, name in kind_objects if kind in ("PersistentVolumeClaim", "PersistentVolume")}
    assert claims == {"minio-data"}
    assert kind_objects[("StatefulSet", "postgres")]["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    for doc in kind_objects.values():
        for template in pod_templates(doc):
            for volume in template.pod.get("volumes") or []:
                assert "persistentVolumeClaim" not in volume or doc["metadata"]["name"] == "minio", template.obj
        if doc["kind"] == "InferenceService":
            uris = [c.get("storageUri", "") for t in pod_templates(doc) for _, c in t.containers]
            assert all(not uri.startswith("pvc://") for uri in uris), doc["metadata"]["name"]


def test_configmap_has_exactly_the_service_settings(kind_objects):
    assert kind_objects[("ConfigMap", "loyaltylens-config")]["data"] == CONFIG_KEYS


def test_the_cluster_provides_what_pipeline_pods_read(kind_objects):
    """The pipeline's tasks (loyaltylens.kfp_runner.platform) take these ConfigMap keys and Secrets as env:
    the ConfigMap has every key and the pipeline runner may read exactly those Secrets."""
    assert set(kind_objects[("ConfigMap", CONFIG_MAP)]["data"]) == set(CONFIG_MAP_KEYS)
    secret_rule = kind_objects[("Role", "loyaltylens-pipeline")]["rules"][1]
    assert set(secret_rule["resourceNames"]) == set(SECRET_KEYS)
    minio = kind_objects[("Deployment", "minio")]["spec"]["template"]["spec"]["containers"][0]
    assert {e["valueFrom"]["secretKeyRef"]["key"] for e in minio["env"]} == set(SECRET_KEYS["loyaltylens-s3"])
    postgres = kind_objects[("StatefulSet", "postgres")]["spec"]["template"]["spec"]["containers"][0]
    keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in postgres["env"] if "valueFrom" in e}
    assert keys == set(SECRET_KEYS["loyaltylens-postgres"])


def test_namespace_enforces_restricted(kind_objects):
    labels = kind_objects[("Namespace", NAMESPACE)]["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_inferenceservices_read_config_and_scratch_dir(kind_objects):
    """Every KServe container takes the ConfigMap; the project's own containers mount an emptyDir at /tmp,
    where LOYALTYLENS_DATA_DIR points; pods run as the serving ServiceAccount without an API token."""
    isvcs = [
        d for (kind, name), d in kind_objects.items() if kind == "InferenceService" and name.startswith("propensity")
    ]
    assert len(isvcs) == 3
    for doc in isvcs:
        for template in pod_templates(doc):
            assert template.pod["serviceAccountName"] == "loyaltylens-serving", template.obj
            assert template.pod["automountServiceAccountToken"] is False, template.obj
            assert template.pod["labels"]["app.kubernetes.io/component"] == "serving", template.obj
            for name, container in template.containers:
                refs = [ref.get("configMapRef", {}).get("name") for ref in container.get("envFrom", [])]
                assert "loyaltylens-config" in refs, (template.obj, name)
                if container.get("securityContext", {}).get("readOnlyRootFilesystem"):
                    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
                    assert {"name": "tmp", "emptyDir": {}} in template.pod["volumes"]
    transformer = kind_objects[("InferenceService", "propensity")]["spec"]["transformer"]["containers"][0]
    secrets = {ref["secretRef"]["name"] for ref in transformer["envFrom"] if "secretRef" in ref}
    assert secrets == {"loyaltylens-s3", "loyaltylens-postgres"}  # reads the feature store: S3 + catalog
    predictor = kind_objects[("InferenceService", "propensity")]["spec"]["predictor"]["containers"][0]
    assert "--model_uri=models:/loyaltylens-propensity@champion" in predictor["args"]
    assert not [ref for ref in predictor["envFrom"] if "secretRef" in ref]  # artifacts come through MLflow


def test_mlflow_server_uses_postgres_and_proxies_artifacts_to_the_object_store(kind_objects):
    container = kind_objects[("Deployment", "mlflow")]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["mlflow", "server"]
    assert "--backend-store-uri=$(LOYALTYLENS_POSTGRES_URL)" in container["args"]
    assert {"--serve-artifacts", "--artifacts-destination=s3://loyaltylens/mlartifacts", "--port=5000"} <= set(
        container["args"]
    )
    env = {e["name"]: e["valueFrom"] for e in container["env"]}
    assert env["MLFLOW_S3_ENDPOINT_URL"]["configMapKeyRef"]["key"] == "LOYALTYLENS_S3_ENDPOINT_URL"
    assert env["PGPASSWORD"]["secretKeyRef"] == {"name": "loyaltylens-postgres", "key": "PGPASSWORD"}
    assert {"secretRef": {"name": "loyaltylens-s3"}} in container["envFrom"]


def test_postgres_runs_as_the_image_postgres_user(kind_objects):
    pod = kind_objects[("StatefulSet", "postgres")]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "pgvector/pgvector:pg16"
    assert pod["securityContext"]["runAsUser"] == 999 and pod["securityContext"]["runAsNonRoot"] is True


def test_service_accounts_and_rbac_are_least_privilege(kind_objects):
    role = kind_objects[("Role", "loyaltylens-pipeline")]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["loyaltylens-config"], "verbs": ["get"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["loyaltylens-s3", "loyaltylens-postgres"],
            "verbs": ["get"],
        },
    ]
    binding = kind_objects[("RoleBinding", "loyaltylens-pipeline")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "loyaltylens-pipeline", "namespace": NAMESPACE}]
    assert not [k for k in kind_objects if k[0] in ("ClusterRole", "ClusterRoleBinding")]
    for workload in ("serving", "mlflow", "postgres", "minio"):
        assert kind_objects[("ServiceAccount", f"loyaltylens-{workload}")]["automountServiceAccountToken"] is False
    for kind, name, account in [
        ("Deployment", "mlflow", "loyaltylens-mlflow"),
        ("StatefulSet", "postgres", "loyaltylens-postgres"),
        ("Deployment", "minio", "loyaltylens-minio"),
    ]:
        pod = kind_objects[(kind, name)]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == account and pod["automountServiceAccountToken"] is False


def _pod_labels(objects: dict, kind: str, name: str, component: str | None = None) -> dict:
    """The labels a workload's pods carry; KServe adds serving.kserve.io/inferenceservice to its pods."""
    doc = objects[(kind, name)]
    if kind == "InferenceService":
        return {**doc["spec"][component].get("labels", {}), "serving.kserve.io/inferenceservice": name}
    return doc["spec"]["template"]["metadata"]["labels"]


def test_network_policies_admit_exactly_the_intended_clients(kind_objects):
    policies = [d for d in kind_objects.values() if d["kind"] == "NetworkPolicy"]
    mlflow = _pod_labels(kind_objects, "Deployment", "mlflow")
    postgres = _pod_labels(kind_objects, "StatefulSet", "postgres")
    minio = _pod_labels(kind_objects, "Deployment", "minio")
    bucket_job = _pod_labels(kind_objects, "Job", "minio-bucket")
    predictor = _pod_labels(kind_objects, "InferenceService", "propensity", "predictor")
    transformer = _pod_labels(kind_objects, "InferenceService", "propensity", "transformer")
    other = {"app": "something-else"}

    def allowed(source, target, port=None, source_namespace=NAMESPACE):
        return ingress_allowed(
            policies, namespace=NAMESPACE, target=target, source=source, source_namespace=source_namespace, port=port
        )

    # MLflow <- pipeline pods + serving
    assert allowed(PIPELINE_POD, mlflow, 5000) and allowed(predictor, mlflow, 5000)
    assert not allowed(postgres, mlflow, 5000) and not allowed(other, mlflow, 5000)
    assert not allowed(PIPELINE_POD, mlflow, 5000, source_namespace="default")
    # Postgres <- MLflow + pipeline pods + serving, on 5432 only
    assert allowed(mlflow, postgres, 5432) and allowed(PIPELINE_POD, postgres, 5432)
    assert allowed(transformer, postgres, 5432)
    assert not allowed(minio, postgres, 5432) and not allowed(mlflow, postgres, 22)
    # object store <- MLflow + pipeline pods + serving (+ the Job that creates the bucket)
    for client in (mlflow, PIPELINE_POD, transformer, bucket_job):
        assert allowed(client, minio, 9000)
    assert not allowed(postgres, minio, 9000) and not allowed(other, minio, 9000)
    # InferenceServices <- the KServe/Knative ingress namespace; the transformer calls its predictor
    assert allowed(other, predictor, 8080, source_namespace="knative-serving")
    for kind, name in kind_objects:  # every InferenceService, labelled by its author or not
        if kind == "InferenceService":
            component = _pod_labels(kind_objects, kind, name, "predictor")
            assert allowed(other, component, 8080, source_namespace="istio-system"), name
    assert allowed(transformer, predictor, 8080)
    assert not allowed(PIPELINE_POD, predictor, 8080) and not allowed(mlflow, transformer, 8080)
    assert not allowed(other, predictor, 8080, source_namespace="default")
    # and nothing else gets in anywhere: default deny
    assert not allowed(mlflow, bucket_job)
