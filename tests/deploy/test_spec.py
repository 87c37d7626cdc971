"""The deployment spec: one file, validated before any cloud call, rendered by all three targets in step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loyaltylens.deploy import cli as deploy_cli
from loyaltylens.deploy.kserve import render_inference_service
from loyaltylens.deploy.sagemaker import SageMakerDeployer
from loyaltylens.deploy.sagemaker import render_plan as render_sagemaker
from loyaltylens.deploy.sizing import SAGEMAKER_INSTANCES, VERTEX_MACHINES
from loyaltylens.deploy.spec import InvalidSpecError, Target, load_spec, parse_spec
from loyaltylens.deploy.vertex import VertexDeployer, traffic_percentage
from loyaltylens.deploy.vertex import render_plan as render_vertex

SPECS = Path(__file__).resolve().parents[2] / "deploy" / "specs"


def spec_document(**changes) -> dict:
    document = yaml.safe_load((SPECS / "propensity.yaml").read_text())
    document.update(changes)
    return document


@pytest.mark.parametrize("name", ["propensity.yaml", "generator.yaml"])
def test_example_specs_load(name):
    spec = load_spec(SPECS / name)
    assert spec.target is Target.KSERVE
    assert spec.model.artifact_uri.startswith("models:/")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"canary_percent": 100}, "canary_percent"),
        ({"replicas": {"min": 3, "max": 1}}, "below replicas.min"),
        ({"resources": {"cpu": 2, "memroy_gib": 4}}, "resources.memroy_gib: Extra inputs are not permitted"),
        ({"name": "Bad_Name"}, "name: String should match pattern"),
        ({"name": "a" * 51}, "name: String should have at most 50 characters"),
        ({"target": "gke"}, "target: Input should be 'kserve', 'sagemaker' or 'vertex'"),
        ({"aws_secret_access_key": "x"}, "aws_secret_access_key: Extra inputs are not permitted"),
        (
            {"container": {"env": {"AWS_SECRET_ACCESS_KEY": "x"}}},
            "look like credentials",
        ),
        ({"model": {"name": "propensity", "artifact_uri": "ftp://x/y"}}, "unknown scheme"),
    ],
)
def test_bad_fields_are_one_clear_error(changes, message):
    with pytest.raises(InvalidSpecError, match=message) as caught:
        parse_spec(spec_document(**changes))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("target", "artifact", "message"),
    [
        (Target.VERTEX, "gs://bucket/model", "cannot serve artifact"),
        (Target.KSERVE, "/tmp/model-dir", "cannot serve artifact"),
        (Target.SAGEMAKER, "gs://bucket/model", "cannot serve artifact"),
        (Target.SAGEMAKER, "s3://bucket/model-dir/", "not one"),
    ],
)
def test_target_and_artifact_must_fit(target, artifact, message):
    spec = load_spec(SPECS / "propensity.yaml").with_artifact(artifact)
    with pytest.raises(InvalidSpecError, match=message):
        spec.for_target(target)


def test_sagemaker_refuses_protocols_its_handler_does_not_speak():
    spec = parse_spec(
        spec_document(model={"name": "propensity", "artifact_uri": "models:/m@champion", "protocol": "v2"})
    )
    with pytest.raises(InvalidSpecError, match="speaks KServe v1 JSON and CSV, not v2"):
        spec.for_target("sagemaker")
    assert spec.for_target("kserve").model.protocol == "v2"


def test_generator_is_refused_by_sagemaker_with_the_reason():
    document = yaml.safe_load((SPECS / "generator.yaml").read_text())
    document["sagemaker"] = spec_document()["sagemaker"]
    with pytest.raises(InvalidSpecError, match="/ping and /invocations"):
        parse_spec(document).for_target("sagemaker")


def test_three_renderings_agree_on_model_artifact_resources_and_traffic():
    spec = load_spec(SPECS / "propensity.yaml")
    artifact = spec.model.artifact_uri

    isvc = render_inference_service(spec)["spec"]["predictor"]
    (container,) = isvc["containers"]
    vertex = render_vertex(spec)
    serving_now = {
        "VariantName": "v-old",
        "ModelName": f"{spec.name}-old",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sagemaker = render_sagemaker(spec, "s3://bucket/key/model.tar.gz", "new", serving_now)

    # model: the same name and image command on KServe and Vertex; SageMaker names its model by deployment.
    assert f"--model_name={spec.model.name}" in container["args"]
    assert container["args"] == vertex.upload["serving_container_args"]
    assert container["image"] == vertex.upload["serving_container_image_uri"]
    assert sagemaker.model_name.startswith(f"{spec.name}-") and vertex.upload["display_name"] == spec.name
    # artifact: KServe and Vertex load the same registry URI; SageMaker serves the archive built from it.
    assert f"--model_uri={artifact}" in container["args"]
    assert sagemaker.create_model["PrimaryContainer"]["ModelDataUrl"] == "s3://bucket/key/model.tar.gz"
    # resources: KServe gets exactly the spec's; each cloud instance has at least as much.
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert container["resources"]["limits"] == container["resources"]["requests"]
    for catalog, chosen in (
        (SAGEMAKER_INSTANCES, sagemaker.endpoint_config["ProductionVariants"][1]["InstanceType"]),
        (VERTEX_MACHINES, vertex.deploy["machine_type"]),
    ):
        (instance,) = [t for t in catalog if t.name == chosen and t.gpu == 0]
        assert instance.vcpu >= spec.resources.cpu and instance.memory_gib >= spec.resources.memory_gib
    assert (isvc["minReplicas"], isvc["maxReplicas"]) == (spec.replicas.min, spec.replicas.max)
    assert (vertex.deploy["min_replica_count"], vertex.deploy["max_replica_count"]) == (
        spec.replicas.min,
        spec.replicas.max,
    )
    assert sagemaker.endpoint_config["ProductionVariants"][1]["InitialInstanceCount"] == spec.replicas.min
    assert (sagemaker.scalable_target["MinCapacity"], sagemaker.scalable_target["MaxCapacity"]) == (
        spec.replicas.min,
        spec.replicas.max,
    )
    # autoscaling on in-flight requests per replica: KServe and SageMaker (Vertex scales on CPU, see README).
    tracking = sagemaker.scaling_policy["TargetTrackingScalingPolicyConfiguration"]
    assert isvc["scaleMetric"] == "concurrency"
    assert isvc["scaleTarget"] == tracking["TargetValue"] == spec.replicas.target_concurrency
    # traffic: the new version gets canary_percent next to the one serving, on all three.
    assert isvc["canaryTrafficPercent"] == spec.canary_percent == 10
    assert traffic_percentage(spec, serving_now=True) == spec.canary_percent
    weights = [v["InitialVariantWeight"] for v in sagemaker.endpoint_config["ProductionVariants"]]
    assert weights == [100 - spec.canary_percent, spec.canary_percent]


def test_a_full_rollout_gives_the_new_version_all_traffic_everywhere():
    spec = parse_spec(spec_document(canary_percent=0))
    assert "canaryTrafficPercent" not in render_inference_service(spec)["spec"]["predictor"]
    assert traffic_percentage(spec, serving_now=True) == 100
    plan = render_sagemaker(spec, "s3://b/k/model.tar.gz", "new", {"ModelName": "old", "VariantName": "v-old"})
    assert [v["InitialVariantWeight"] for v in plan.endpoint_config["ProductionVariants"]] == [100.0]


def test_a_spec_larger_than_every_listed_instance_is_refused_before_any_client():
    spec = parse_spec(spec_document(resources={"cpu": 64, "memory_gib": 512}))
    for deployer_class in (SageMakerDeployer, VertexDeployer):
        with pytest.raises(InvalidSpecError, match="set the instance type explicitly"):
            deployer_class(spec)


def test_cli_checks_spec_and_target_before_creating_any_client(monkeypatch, tmp_path):
    def no_cloud(spec):
        raise AssertionError("a cloud client was created for an invalid request")

    monkeypatch.setattr(deploy_cli, "deployer", no_cloud)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec_document(replicas={"min": 1, "max": 2, "burst": 5})))
    runner = CliRunner()
    for args, message in (
        (["deploy", "--spec", str(SPECS / "propensity.yaml"), "--target", "gke"], "unknown target 'gke'"),
        (["status", "--spec", str(bad), "--target", "sagemaker"], "replicas.burst"),
        (["teardown", "--spec", str(tmp_path / "missing.yaml")], "cannot read spec"),
        (["deploy", "--spec", str(SPECS / "propensity.yaml"), "--target", "sagemaker", "--pipelines"], "Vertex AI"),
        (["invoke", "--spec", str(SPECS / "generator.yaml"), "--target", "sagemaker", "--data", "{}"], "sagemaker:"),
    ):
        result = runner.invoke(deploy_cli.app, args)
        assert isinstance(result.exception, InvalidSpecError), (args, result.output)
        assert message in str(result.exception)


def test_kserve_without_kubeconfig_writes_the_yaml(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    out = tmp_path / "isvc.yaml"
    result = CliRunner().invoke(
        deploy_cli.app, ["deploy", "--spec", str(SPECS / "propensity.yaml"), "--target", "kserve", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text()) == render_inference_service(load_spec(SPECS / "propensity.yaml"))
    assert f"kubectl apply -f {out}" in " ".join(result.output.split())


def test_the_installed_command_prints_one_line_and_exits_nonzero():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from loyaltylens.cli import main; main()",
            "deploy",
            "--spec",
            str(SPECS / "propensity.yaml"),
            "--target",
            "azure",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: unknown target 'azure'; choose one of kserve, sagemaker, vertex"
    ]
