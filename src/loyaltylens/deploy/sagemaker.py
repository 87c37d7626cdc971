"""SageMaker target: ``model.tar.gz`` in S3, a SageMaker model per artifact, an endpoint config of weighted
production variants, and the endpoint, all through ``boto3``.

The archive is what the SageMaker PyTorch serving container expects: ``model.pt`` and
``feature_contract.json`` at the root, ``code/inference.py`` (``serving/sagemaker/inference.py``), the
``loyaltylens`` package it imports and ``code/requirements.txt``. Names derive from the archive's content
hash, so deploying the same artifact twice changes nothing.

Deploying to a live endpoint replaces its config: with ``canary_percent`` > 0 the variant serving now keeps
``100 - canary_percent`` of the traffic and the new one gets the rest; with 0 the new variant takes it all.
Credentials come from the AWS credential chain (env, profile, instance role), never from the spec.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import io
import json
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import loyaltylens
from loyaltylens.config import get_settings
from loyaltylens.deploy.sizing import SAGEMAKER_INSTANCES, InstanceType, choose
from loyaltylens.deploy.spec import ArtifactScheme, DeploymentSpec, Target
from loyaltylens.errors import LoyaltyLensError, NotFoundError
from loyaltylens.propensity.contract import CONTRACT_FILENAME
from loyaltylens.propensity.export import MODEL_FILENAME

# A package resource, so it is found the same in a checkout, an installed wheel and an image.
HANDLER_RESOURCE = ("serving.sagemaker", "inference.py")
# What code/loyaltylens imports on the handler's path (codec -> kserve; config -> pydantic-settings).
HANDLER_REQUIREMENTS = ("kserve", "pydantic", "pydantic-settings", "pyyaml", "orjson")


def handler_source() -> bytes:
    """The SageMaker handler's source (``serving/sagemaker/inference.py``, shipped in the wheel)."""
    package, name = HANDLER_RESOURCE
    return importlib.resources.files(package).joinpath(name).read_bytes()
# AWS's PyTorch inference images (Deep Learning Containers); TorchScript loads on the same or a newer torch.
PYTORCH_IMAGE = "763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-inference:2.6.0-{device}-py312-{os}-sagemaker"
CODE_DIR_IN_CONTAINER = "/opt/ml/model/code"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# SageMaker's concurrency metric for target tracking (the counterpart of KServe's scaleMetric: concurrency).
CONCURRENCY_METRIC = "SageMakerVariantConcurrentRequestsPerModelHighResolution"


@dataclass(frozen=True)
class SageMakerPlan:
    """The requests one deploy sends, rendered from the spec (see ``render_plan``)."""

    model_name: str
    model_data_url: str
    instance: InstanceType
    create_model: dict
    endpoint_config: dict
    scalable_target: dict | None  # Application Auto Scaling registration of the new variant
    scaling_policy: dict | None  # target tracking on concurrent requests per instance


def build_model_archive(model_dir: Path, out_path: Path) -> Path:
    """Write ``model.tar.gz`` for the SageMaker PyTorch container. Deterministic: same inputs, same bytes."""
    model_dir = Path(model_dir)
    for name in (MODEL_FILENAME, CONTRACT_FILENAME):
        if not (model_dir / name).is_file():
            raise NotFoundError(f"model directory {model_dir} has no {name}")
    package_root = Path(loyaltylens.__file__).resolve().parent
    members: list[tuple[str, bytes]] = [
        (MODEL_FILENAME, (model_dir / MODEL_FILENAME).read_bytes()),
        (CONTRACT_FILENAME, (model_dir / CONTRACT_FILENAME).read_bytes()),
        ("code/inference.py", handler_source()),
        ("code/requirements.txt", _requirements().encode()),
    ]
    members += [
        (f"code/loyaltylens/{path.relative_to(package_root).as_posix()}", path.read_bytes())
        for path in sorted(package_root.rglob("*.py"))
        if "__pycache__" not in path.parts
    ]
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # mtime 0 in both gzip and tar headers keeps the archive, and so the names derived from it, reproducible.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed, tarfile.open(fileobj=packed, mode="w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    out_path.write_bytes(buffer.getvalue())
    return out_path


def _requirements() -> str:
    lines = []
    for name in HANDLER_REQUIREMENTS:
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(name)
    return "\n".join(lines) + "\n"


def archive_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def default_image(spec: DeploymentSpec, instance: InstanceType) -> str:
    device, os_tag = ("gpu", "cu124-ubuntu22.04") if instance.gpu else ("cpu", "ubuntu22.04")
    return PYTORCH_IMAGE.format(region=spec.sagemaker.region, device=device, os=os_tag)


def instance_for(spec: DeploymentSpec) -> InstanceType:
    return choose(SAGEMAKER_INSTANCES, spec.resources, spec.sagemaker.instance_type, "SageMaker")


def variant_name(model_name: str) -> str:
    return f"v-{model_name.rsplit('-', 1)[-1]}"


def render_plan(
    spec: DeploymentSpec, model_data_url: str, digest: str, serving_now: dict | None = None
) -> SageMakerPlan:
    """The ``create_model`` and ``create_endpoint_config`` requests for ``spec``.

    Args:
        model_data_url: the ``s3://…/model.tar.gz`` the model is served from.
        digest: content hash of that archive; names the model, its variant and the config.
        serving_now: the production variant the endpoint serves now (from ``describe_endpoint_config``),
            or None for a new endpoint; with ``canary_percent`` > 0 it keeps the rest of the traffic.
    """
    spec = spec.for_target(Target.SAGEMAKER)
    instance = instance_for(spec)
    model_name = f"{spec.name}-{digest}"
    environment = spec.container.env | {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": CODE_DIR_IN_CONTAINER,
    }
    create_model = {
        "ModelName": model_name,
        "ExecutionRoleArn": spec.sagemaker.execution_role_arn,
        "PrimaryContainer": {
            "Image": spec.sagemaker.image_uri or default_image(spec, instance),
            "ModelDataUrl": model_data_url,
            "Environment": environment,
        },
        "Tags": [{"Key": "loyaltylens/deployment", "Value": spec.name}],
    }
    new_variant = {
        "VariantName": variant_name(model_name),
        "ModelName": model_name,
        "InstanceType": instance.name,
        "InitialInstanceCount": spec.replicas.min,
        "InitialVariantWeight": 100.0,
    }
    variants = [new_variant]
    if serving_now is not None and serving_now["ModelName"] != model_name and spec.canary_percent:
        new_variant["InitialVariantWeight"] = float(spec.canary_percent)
        variants = [{**serving_now, "InitialVariantWeight": float(100 - spec.canary_percent)}, new_variant]
    config_key = json.dumps(variants, sort_keys=True).encode()
    endpoint_config = {
        "EndpointConfigName": f"{spec.name}-{hashlib.sha256(config_key).hexdigest()[:12]}",
        "ProductionVariants": variants,
        "Tags": [{"Key": "loyaltylens/deployment", "Value": spec.name}],
    }
    scalable_target, scaling_policy = autoscaling_requests(spec, new_variant["VariantName"])
    return SageMakerPlan(
        model_name, model_data_url, instance, create_model, endpoint_config, scalable_target, scaling_policy
    )


def autoscaling_requests(spec: DeploymentSpec, variant: str) -> tuple[dict | None, dict | None]:
    """Instance count between ``replicas.min`` and ``.max`` (Application Auto Scaling), tracking
    ``replicas.target_concurrency`` in-flight requests per instance when set. None when nothing scales."""
    if spec.replicas.max == spec.replicas.min and not spec.replicas.target_concurrency:
        return None, None
    scope = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{spec.name}/variant/{variant}",
        "ScalableDimension": SCALABLE_DIMENSION,
    }
    target = scope | {"MinCapacity": spec.replicas.min, "MaxCapacity": spec.replicas.max}
    if not spec.replicas.target_concurrency:
        return target, None
    policy = scope | {
        "PolicyName": f"{spec.name}-{variant}-concurrency",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(spec.replicas.target_concurrency),
            "PredefinedMetricSpecification": {"PredefinedMetricType": CONCURRENCY_METRIC},
        },
    }
    return target, policy


class SageMakerDeployer:
    """deploy / status / invoke / teardown of one spec's endpoint. ``session`` is a ``boto3.Session``
    (default: the standard credential chain); ``endpoint_url`` points every client elsewhere (tests: moto)."""

    def __init__(self, spec: DeploymentSpec, session=None, endpoint_url: str | None = None, waiter_delay: int = 30):
        self.spec = spec.for_target(Target.SAGEMAKER)
        instance_for(self.spec)  # a spec no instance fits fails here, before the upload
        import boto3

        session = session or boto3.Session(region_name=self.spec.sagemaker.region)
        self.s3 = session.client("s3", endpoint_url=endpoint_url)
        self.sagemaker = session.client("sagemaker", endpoint_url=endpoint_url)
        self.runtime = session.client("sagemaker-runtime", endpoint_url=endpoint_url)
        self.autoscaling = session.client("application-autoscaling", endpoint_url=endpoint_url)
        self.waiter_config = {"Delay": waiter_delay, "MaxAttempts": 120}

    # --- artifact ------------------------------------------------------------------------------------
    def upload_artifact(self) -> tuple[str, str]:
        """``(model_data_url, digest)``: an ``s3://…tar.gz`` artifact as is, anything else built and uploaded."""
        uri = self.spec.model.artifact_uri
        if self.spec.scheme is ArtifactScheme.S3:
            return uri, hashlib.sha256(uri.encode()).hexdigest()[:12]
        from loyaltylens.runtime.model_source import resolve_model_dir

        settings = get_settings()
        model_dir = resolve_model_dir(uri, settings.tracking_uri, settings.models_dir)
        with tempfile.TemporaryDirectory() as scratch:
            archive = build_model_archive(model_dir, Path(scratch) / "model.tar.gz")
            digest = archive_digest(archive)
            key = f"{self.spec.sagemaker.prefix.strip('/')}/{self.spec.name}/{digest}/model.tar.gz"
            self.s3.upload_file(str(archive), self.spec.sagemaker.bucket, key)
        return f"s3://{self.spec.sagemaker.bucket}/{key}", digest

    # --- lifecycle -----------------------------------------------------------------------------------
    def deploy(self) -> SageMakerPlan:
        """Upload, create the model and config, create or update the endpoint, wait until it is in service."""
        model_data_url, digest = self.upload_artifact()
        serving_now = self._serving_variant()
        plan = render_plan(self.spec, model_data_url, digest, serving_now)
        if not self._exists("describe_model", ModelName=plan.model_name):
            self.sagemaker.create_model(**plan.create_model)
        config_name = plan.endpoint_config["EndpointConfigName"]
        if not self._exists("describe_endpoint_config", EndpointConfigName=config_name):
            self.sagemaker.create_endpoint_config(**plan.endpoint_config)
        if serving_now is None:
            self.sagemaker.create_endpoint(EndpointName=self.spec.name, EndpointConfigName=config_name)
        else:
            # Application Auto Scaling refuses an update that removes a variant it still scales.
            kept = {variant["VariantName"] for variant in plan.endpoint_config["ProductionVariants"]}
            self._deregister_scaling(keep=kept)
            self.sagemaker.update_endpoint(EndpointName=self.spec.name, EndpointConfigName=config_name)
        self.sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=self.spec.name, WaiterConfig=self.waiter_config
        )
        # Scaling attaches to a variant of a live endpoint, so it comes after the waiter.
        if plan.scalable_target:
            self.autoscaling.register_scalable_target(**plan.scalable_target)
        if plan.scaling_policy:
            self.autoscaling.put_scaling_policy(**plan.scaling_policy)
        return plan

    def status(self) -> dict:
        endpoint = self._describe_endpoint()
        if endpoint is None:
            raise NotFoundError(f"SageMaker endpoint {self.spec.name} does not exist")
        return {
            "name": self.spec.name,
            "status": endpoint["EndpointStatus"],
            "endpoint_config": endpoint["EndpointConfigName"],
            "variants": {v["VariantName"]: v.get("CurrentWeight") for v in endpoint.get("ProductionVariants", [])},
        }

    def invoke(self, body: bytes | str, content_type: str = "application/json") -> bytes:
        response = self.runtime.invoke_endpoint(
            EndpointName=self.spec.name, ContentType=content_type, Accept="application/json", Body=body
        )
        return response["Body"].read()

    def teardown(self) -> list[str]:
        """Delete the endpoint, then every endpoint config and model this deployment created (tagged by
        name prefix). The S3 archives stay: they cost cents and make a redeploy reproducible."""
        # Scaling registrations outlive the endpoint unless removed first.
        deleted = [f"scalable target {resource}" for resource in self._deregister_scaling(keep=set())]
        if self._describe_endpoint() is not None:
            self.sagemaker.delete_endpoint(EndpointName=self.spec.name)
            deleted.append(f"endpoint {self.spec.name}")
        prefix = f"{self.spec.name}-"
        for config in self.sagemaker.list_endpoint_configs(NameContains=self.spec.name)["EndpointConfigs"]:
            if config["EndpointConfigName"].startswith(prefix):
                self.sagemaker.delete_endpoint_config(EndpointConfigName=config["EndpointConfigName"])
                deleted.append(f"endpoint config {config['EndpointConfigName']}")
        for model in self.sagemaker.list_models(NameContains=self.spec.name)["Models"]:
            if model["ModelName"].startswith(prefix):
                self.sagemaker.delete_model(ModelName=model["ModelName"])
                deleted.append(f"model {model['ModelName']}")
        return deleted

    # --- helpers -------------------------------------------------------------------------------------
    def _deregister_scaling(self, keep: set[str]) -> list[str]:
        """Deregister the endpoint's scalable variants not named in ``keep``; returns their resource ids."""
        prefix = f"endpoint/{self.spec.name}/variant/"
        targets = self.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
        removed = []
        for target in targets:
            resource = target["ResourceId"]
            if resource.startswith(prefix) and resource.removeprefix(prefix) not in keep:
                self.autoscaling.deregister_scalable_target(
                    ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=target["ScalableDimension"]
                )
                removed.append(resource)
        return removed

    def _describe_endpoint(self) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.sagemaker.describe_endpoint(EndpointName=self.spec.name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationException" and "Could not find" in str(exc):
                return None
            raise LoyaltyLensError(f"SageMaker describe_endpoint: {exc}") from None

    def _serving_variant(self) -> dict | None:
        """The production variant carrying most of the live endpoint's traffic, as a config entry."""
        endpoint = self._describe_endpoint()
        if endpoint is None:
            return None
        config = self.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        variant = max(config["ProductionVariants"], key=lambda v: v.get("InitialVariantWeight", 1.0))
        keys = ("VariantName", "ModelName", "InstanceType", "InitialInstanceCount")
        return {key: variant[key] for key in keys}

    def _exists(self, describe: str, **kwargs) -> bool:
        from botocore.exceptions import ClientError

        try:
            getattr(self.sagemaker, describe)(**kwargs)
        except ClientError as exc:
            # SageMaker reports a missing resource as a ValidationException; anything else is a real failure.
            if exc.response.get("Error", {}).get("Code") == "ValidationException":
                return False
            raise LoyaltyLensError(f"SageMaker {describe}: {exc}") from None
        return True
