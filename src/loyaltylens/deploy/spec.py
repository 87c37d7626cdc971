"""One deployment spec for every serving target: KServe, SageMaker and Vertex AI.

A ``DeploymentSpec`` (a YAML file, validated with pydantic) names the model, where its artifact is, how it
is served and with what resources, replicas and canary share. Each target's renderer turns the same spec into
its own objects (an InferenceService, SageMaker model + endpoint config, a Vertex Model + deployment), so the
three stay in step. Everything is checked here, before any cloud call: an unknown field, a target that
cannot read the artifact's scheme, or a credential-looking environment variable is one ``InvalidSpecError``.

Credentials never come from the spec: each target's client uses its standard provider chain (kubeconfig,
the AWS credential chain, Google application-default credentials).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loyaltylens.errors import InvalidInputError

DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
# Environment variable names that would carry a secret; the spec is checked into git, secrets are not.
_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL)", re.IGNORECASE)


class InvalidSpecError(InvalidInputError):
    """A deployment spec that cannot be deployed as written (bad field, unsupported combination)."""


class Target(StrEnum):
    KSERVE = "kserve"
    SAGEMAKER = "sagemaker"
    VERTEX = "vertex"


class Runtime(StrEnum):
    """How the artifact is served.

    ``torchscript``: an exported propensity model directory (``model.pt`` + ``feature_contract.json``),
    served by the project's KServe predictor, by the SageMaker PyTorch container with
    ``serving/sagemaker/inference.py``, and on Vertex by the serve image.
    ``container``: the image serves itself (e.g. the generator); the artifact URI is passed to it.
    """

    TORCHSCRIPT = "torchscript"
    CONTAINER = "container"


class Protocol(StrEnum):
    V1 = "v1"
    V2 = "v2"
    OPENAI = "openai"


class ArtifactScheme(StrEnum):
    REGISTRY = "models:/"
    S3 = "s3://"
    GCS = "gs://"
    PVC = "pvc://"
    LOCAL = "local"


# Which artifact locations each target can serve, and why the others cannot:
# KServe's storage initializer reads s3/gs/pvc, and the predictor image reads the MLflow registry itself;
# SageMaker needs a model.tar.gz in S3, which is built from a registry version or a local directory;
# on Vertex the serve image loads the model from the registry (it has no Cloud Storage reader).
SUPPORTED_SCHEMES: dict[Target, frozenset[ArtifactScheme]] = {
    Target.KSERVE: frozenset({ArtifactScheme.REGISTRY, ArtifactScheme.S3, ArtifactScheme.GCS, ArtifactScheme.PVC}),
    Target.SAGEMAKER: frozenset({ArtifactScheme.REGISTRY, ArtifactScheme.S3, ArtifactScheme.LOCAL}),
    Target.VERTEX: frozenset({ArtifactScheme.REGISTRY}),
}


def artifact_scheme(uri: str) -> ArtifactScheme:
    """The scheme of an artifact URI; anything without one of the known prefixes is a local path."""
    for scheme in ArtifactScheme:
        if scheme is not ArtifactScheme.LOCAL and uri.startswith(scheme.value):
            return scheme
    if "://" in uri:
        accepted = ", ".join(s.value for s in ArtifactScheme if s is not ArtifactScheme.LOCAL)
        raise InvalidSpecError(f"artifact_uri {uri!r}: unknown scheme; use {accepted} or a local path")
    return ArtifactScheme.LOCAL


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Strict):
    """Per replica. KServe requests and limits both get these; the cloud targets get the smallest listed
    instance / machine type that has at least this much."""

    cpu: float = Field(default=1.0, gt=0, description="vCPUs")
    memory_gib: float = Field(default=2.0, gt=0)
    gpu: int = Field(default=0, ge=0, le=1, description="NVIDIA GPUs (0 or 1)")


class Replicas(_Strict):
    min: int = Field(default=1, ge=1)
    max: int = Field(default=1, ge=1)
    target_concurrency: int | None = Field(
        default=None, ge=1, description="in-flight requests per replica that triggers a scale-out"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.max < self.min:
            raise ValueError(f"replicas.max ({self.max}) is below replicas.min ({self.min})")
        return self


class ModelRef(_Strict):
    name: Annotated[str, Field(pattern=DNS_LABEL)] = Field(description="model name in the serving routes")
    artifact_uri: str = Field(min_length=1, description="models:/name@alias, s3://, gs://, pvc:// or a path")
    runtime: Runtime = Runtime.TORCHSCRIPT
    protocol: Protocol = Protocol.V1


class Container(_Strict):
    """The serving image: the project's serve image for torchscript models, the generator's for container."""

    image: str = "ghcr.io/loyaltylens/loyaltylens-serve:0.1.0"
    command: list[str] = Field(default_factory=lambda: ["python", "-m", "serving.propensity"])
    args: list[str] = Field(default_factory=list)
    port: int = Field(default=8080, ge=1, le=65535)
    env: dict[str, str] = Field(default_factory=dict, description="non-secret settings, e.g. MLflow URI")


class KServeOptions(_Strict):
    namespace: Annotated[str, Field(pattern=DNS_LABEL)] = "loyaltylens"
    serving_runtime: str = Field(
        default="loyaltylens-propensity", description="ServingRuntime for storage-URI torchscript models"
    )
    service_account: str | None = Field(
        default="loyaltylens-serving", description="pod ServiceAccount (its secrets give the storage initializer S3)"
    )
    config_map: str | None = Field(
        default="loyaltylens-config", description="ConfigMap whose keys become the container's env (envFrom)"
    )


class SageMakerOptions(_Strict):
    region: str = "us-east-1"
    execution_role_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")] = Field(
        description="IAM role SageMaker assumes to pull the image and read S3 (a role, not a credential)"
    )
    bucket: str = Field(min_length=3, description="S3 bucket for model.tar.gz")
    prefix: str = "loyaltylens/models"
    instance_type: str | None = Field(default=None, description="default: smallest fitting ml.* type")
    image_uri: str | None = Field(default=None, description="default: AWS PyTorch inference image")


class VertexOptions(_Strict):
    project: str = Field(min_length=1)
    location: str = "us-central1"
    pipeline_root: Annotated[str, Field(pattern=r"^gs://.+")] = Field(description="gs:// root for pipeline runs")
    machine_type: str | None = Field(default=None, description="default: smallest fitting n1-standard type")
    service_account: str | None = None


class DeploymentSpec(_Strict):
    """Everything one deployment needs; see ``deploy/specs/*.yaml`` for examples."""

    # 50 leaves room for the 13-character content-hash suffix of SageMaker model and config names (max 63).
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=50)] = Field(
        description="InferenceService / endpoint name"
    )
    model: ModelRef
    container: Container = Field(default_factory=Container)
    resources: Resources = Field(default_factory=Resources)
    replicas: Replicas = Field(default_factory=Replicas)
    canary_percent: int = Field(
        default=0, ge=0, le=99, description="share of traffic for a new version next to the one serving now"
    )
    target: Target = Target.KSERVE
    kserve: KServeOptions = Field(default_factory=KServeOptions)
    sagemaker: SageMakerOptions | None = None
    vertex: VertexOptions | None = None

    @model_validator(mode="after")
    def _no_secrets(self) -> DeploymentSpec:
        secret = sorted(name for name in self.container.env if _SECRET_NAME.search(name))
        if secret:
            raise ValueError(
                f"container.env {secret} look like credentials; they come from the provider's credential "
                "chain or a Kubernetes secret, never from the spec"
            )
        return self

    @property
    def scheme(self) -> ArtifactScheme:
        return artifact_scheme(self.model.artifact_uri)

    def with_artifact(self, artifact_uri: str) -> DeploymentSpec:
        """The same deployment serving another artifact (e.g. a new registry version as a canary)."""
        return parse_spec(
            self.model_dump(mode="json")
            | {"model": self.model.model_dump(mode="json") | {"artifact_uri": artifact_uri}},
            source=self.name,
        )

    def for_target(self, target: Target | str | None = None) -> DeploymentSpec:
        """This spec checked for ``target`` (default: its own ``target``): the artifact's scheme is one the
        target can serve and the target's options section is present. Returns the spec with ``target`` set.
        """
        chosen = parse_target(target) if target is not None else self.target
        scheme = self.scheme
        if scheme not in SUPPORTED_SCHEMES[chosen]:
            accepted = ", ".join(sorted(s.value for s in SUPPORTED_SCHEMES[chosen]))
            raise InvalidSpecError(
                f"{self.name}: target {chosen} cannot serve artifact {self.model.artifact_uri!r} "
                f"({scheme.value}); it accepts {accepted}"
            )
        if chosen is not Target.KSERVE and getattr(self, chosen.value) is None:
            raise InvalidSpecError(f"{self.name}: target {chosen} needs a '{chosen.value}:' section in the spec")
        if chosen is Target.SAGEMAKER and self.model.runtime is Runtime.CONTAINER:
            raise InvalidSpecError(
                f"{self.name}: SageMaker containers must answer /ping and /invocations; the container runtime "
                "(KServe/OpenAI routes) deploys to kserve or vertex"
            )
        if chosen is Target.SAGEMAKER and self.model.protocol is not Protocol.V1:
            raise InvalidSpecError(
                f"{self.name}: the SageMaker handler speaks KServe v1 JSON and CSV, not {self.model.protocol}"
            )
        if chosen is Target.SAGEMAKER and scheme is ArtifactScheme.S3:
            if not self.model.artifact_uri.endswith(".tar.gz"):
                raise InvalidSpecError(
                    f"{self.name}: SageMaker reads a model.tar.gz from S3; {self.model.artifact_uri!r} is not one "
                    "(point artifact_uri at a models:/ URI or a local model directory to have it built)"
                )
        return self.model_copy(update={"target": chosen})


def parse_target(value: Target | str) -> Target:
    try:
        return Target(value)
    except ValueError:
        raise InvalidSpecError(
            f"unknown target {value!r}; choose one of {', '.join(t.value for t in Target)}"
        ) from None


def load_spec(path: Path | str) -> DeploymentSpec:
    """Read and validate a spec file; every problem becomes one ``InvalidSpecError`` line."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InvalidSpecError(f"cannot read spec {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidSpecError(f"spec {path} is not valid YAML: {exc}".replace("\n", " ")) from None
    return parse_spec(document, source=str(path))


def parse_spec(document: object, source: str = "spec") -> DeploymentSpec:
    if not isinstance(document, dict):
        raise InvalidSpecError(f"{source}: expected a mapping at the top level")
    try:
        spec = DeploymentSpec.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}" for error in exc.errors()
        )
        raise InvalidSpecError(f"{source}: {problems}") from None
    artifact_scheme(spec.model.artifact_uri)  # an unknown scheme is a spec error too
    return spec
