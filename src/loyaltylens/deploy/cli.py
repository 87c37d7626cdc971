"""``loyaltylens deploy|status|invoke|teardown --spec FILE --target kserve|sagemaker|vertex``.

The spec and the target are checked before any client is created, so a typo costs nothing. Failures of the
cloud SDKs become one ``LoyaltyLensError`` line (the CLI's error boundary prints it and exits 2).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from loyaltylens.config import get_settings
from loyaltylens.deploy.spec import DeploymentSpec, InvalidSpecError, Target, load_spec, parse_target
from loyaltylens.errors import InvalidInputError, LoyaltyLensError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()

SpecOption = Annotated[Path, typer.Option("--spec", help="Deployment spec (YAML), e.g. deploy/specs/propensity.yaml.")]
TargetOption = Annotated[
    str | None, typer.Option("--target", help="kserve | sagemaker | vertex (default: the spec's target).")
]


def resolve(spec_path: Path, target: str | None, artifact: str | None = None) -> DeploymentSpec:
    """The spec read, overridden and validated for the chosen target: every check before any cloud call."""
    spec = load_spec(spec_path)
    if artifact:
        spec = spec.with_artifact(artifact)
    return spec.for_target(parse_target(target) if target else None)


@contextmanager
def cloud_errors(target: Target) -> Iterator[None]:
    """SDK exceptions (HTTP errors, missing credentials, unreachable endpoints) as one readable line."""
    try:
        yield
    except LoyaltyLensError:
        raise
    except Exception as exc:  # the three SDKs share no base class; each message is kept, on one line
        message = " ".join(str(exc).split())
        raise LoyaltyLensError(f"{target}: {type(exc).__name__}: {message[:500]}") from exc


def deployer(spec: DeploymentSpec):
    """The target's deployer; clients come from the standard credential chains."""
    if spec.target is Target.KSERVE:
        from loyaltylens.deploy.kserve import KServeDeployer

        return KServeDeployer(spec)
    if spec.target is Target.SAGEMAKER:
        from loyaltylens.deploy.sagemaker import SageMakerDeployer

        return SageMakerDeployer(spec)
    from loyaltylens.deploy.vertex import VertexDeployer

    return VertexDeployer(spec)


@app.command("deploy")
def deploy(
    spec_path: SpecOption,
    target: TargetOption = None,
    artifact: Annotated[
        str | None, typer.Option(help="Serve this artifact instead of the spec's (e.g. a new version as a canary).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="kserve without a kubeconfig: where the InferenceService YAML goes.")
    ] = None,
    pipelines: Annotated[
        bool, typer.Option(help="vertex: also submit every pipelines/*.yaml as a PipelineJob.")
    ] = False,
    index_offers: Annotated[
        Path | None, typer.Option(help="vertex: also index this dataset directory's offers in Vector Search.")
    ] = None,
) -> None:
    """Deploy (or update, as a canary when the spec says so) the spec's model on the target."""
    spec = resolve(spec_path, target, artifact)
    if (pipelines or index_offers) and spec.target is not Target.VERTEX:
        raise InvalidSpecError(f"--pipelines and --index-offers are Vertex AI options, not {spec.target}'s")
    offers = None
    if index_offers:
        from loyaltylens.data import load_table

        offers = load_table(index_offers, "offers")  # read before any cloud call: a bad path costs nothing
    if spec.target is Target.KSERVE:
        from loyaltylens.deploy.kserve import kubeconfig_path, render_inference_service, to_yaml

        if kubeconfig_path() is None:
            path = out or get_settings().data_dir / "deploy" / f"{spec.name}-isvc.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(to_yaml(render_inference_service(spec)))
            console.print(f"no kubeconfig: wrote {path}; apply it with  kubectl apply -f {path}")
            return
    with cloud_errors(spec.target):
        target_deployer = deployer(spec)
        result = target_deployer.deploy()
        console.print(f"deployed {spec.name} on {spec.target}")
        if pipelines:
            for job in target_deployer.submit_pipelines():
                console.print(f"submitted pipeline job {job.resource_name}")
        if offers is not None:
            from loyaltylens.retrieval.embeddings import TextEmbedder

            index = target_deployer.index_offers(offers, TextEmbedder())
            console.print(f"indexed {len(offers)} offers in {index.resource_name}")
        if spec.target is Target.KSERVE:
            console.print_json(data=result.get("metadata", {}))


@app.command("status")
def status(spec_path: SpecOption, target: TargetOption = None) -> None:
    """Where the deployment stands: readiness / endpoint status and the traffic split."""
    spec = resolve(spec_path, target)
    with cloud_errors(spec.target):
        console.print_json(data=deployer(spec).status())


@app.command("invoke")
def invoke(
    spec_path: SpecOption,
    data: Annotated[str, typer.Option(help='Request body: JSON text, or @FILE (e.g. {"instances": [...]}).')],
    target: TargetOption = None,
) -> None:
    """Send one prediction request to the deployed endpoint and print the answer."""
    spec = resolve(spec_path, target)
    text = Path(data[1:]).read_text() if data.startswith("@") else data
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"--data is not JSON: {exc}") from None
    with cloud_errors(spec.target):
        target_deployer = deployer(spec)
        if spec.target is Target.SAGEMAKER:
            console.print(target_deployer.invoke(json.dumps(payload)).decode())
        else:
            console.print_json(data=target_deployer.invoke(payload))


@app.command("teardown")
def teardown(spec_path: SpecOption, target: TargetOption = None) -> None:
    """Delete what the deployment runs (endpoint / InferenceService) and the models it registered."""
    spec = resolve(spec_path, target)
    with cloud_errors(spec.target):
        removed = deployer(spec).teardown()
    for item in removed or [f"InferenceService {spec.name}"]:
        console.print(f"deleted {item}")
