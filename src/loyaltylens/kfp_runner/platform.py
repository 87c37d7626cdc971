"""What every pipeline task needs on a Kubernetes cluster, added to the compiled IR with ``kfp-kubernetes``.

Each task is its own pod: it gets the service URIs from the ConfigMap ``loyaltylens-config`` and the
credentials from the Secrets ``loyaltylens-s3`` and ``loyaltylens-postgres`` (names only; the values are
created in the cluster, never committed), an ``emptyDir`` as its private scratch data dir, and the label the
namespace's NetworkPolicies select pipeline pods by. No volume is shared with another step.
"""

from __future__ import annotations

from kfp import kubernetes
from kfp.dsl import PipelineTask

CONFIG_MAP = "loyaltylens-config"
# ConfigMap key == environment variable name (manifests/base/configmap.yaml, helm values).
CONFIG_MAP_KEYS: tuple[str, ...] = (
    "LOYALTYLENS_MLFLOW_TRACKING_URI",
    "LOYALTYLENS_FEATURE_STORE_URI",
    "LOYALTYLENS_FEATURE_STORE_CATALOG",
    "LOYALTYLENS_POSTGRES_URL",
    "LOYALTYLENS_S3_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "LOYALTYLENS_DATA_DIR",
)
SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "loyaltylens-s3": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "loyaltylens-postgres": ("PGPASSWORD",),
}
POD_LABEL = ("app.kubernetes.io/component", "pipeline")
SCRATCH_VOLUME = "scratch"
SCRATCH_MOUNT = "/tmp/loyaltylens"  # the ConfigMap's LOYALTYLENS_DATA_DIR
RUN_AS_USER = 10001  # the image's non-root user (components/Dockerfile)


def on_cluster(task: PipelineTask) -> PipelineTask:
    """Give ``task`` its cluster environment (see the module docstring); returns the task for chaining."""
    kubernetes.use_config_map_as_env(task, CONFIG_MAP, {key: key for key in CONFIG_MAP_KEYS})
    for secret, keys in SECRET_KEYS.items():
        kubernetes.use_secret_as_env(task, secret, {key: key for key in keys})
    kubernetes.add_pod_label(task, *POD_LABEL)
    kubernetes.empty_dir_mount(task, SCRATCH_VOLUME, SCRATCH_MOUNT)
    kubernetes.set_security_context(task, run_as_user=RUN_AS_USER, run_as_non_root=True)
    return task
