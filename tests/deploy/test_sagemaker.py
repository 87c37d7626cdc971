"""SageMaker deploy -> invoke -> canary update -> teardown through real ``boto3`` against a moto server started
here on loopback.

What moto exercises: every control-plane request the deployer sends (S3 upload, create_model,
create_endpoint_config with weighted variants, create/update/describe/delete endpoint, the
``endpoint_in_service`` waiter, list/delete of configs and models), with moto's validation of their shapes.
What it does not: no container runs. moto's ``invoke_endpoint`` answers a canned body queued through its
``/moto-api`` (checked here only as the invoke plumbing); the handler itself is tested against the KServe
server in ``test_sagemaker_handler.py``. moto 5.2.5 has no ``UpdateEndpoint``: the fixture adds it to the
moto server, doing what SageMaker does once an update completes (the endpoint takes the new config's
variants).
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path

import boto3
import httpx
import pytest
from moto.core.responses import ActionResult
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.sagemaker.responses import SageMakerResponse

from loyaltylens.deploy.sagemaker import SageMakerDeployer, archive_digest, build_model_archive
from loyaltylens.deploy.spec import DeploymentSpec, load_spec, parse_spec
from loyaltylens.local.launcher import free_port
from tests.model_samples import export_untrained_model

REGION = "us-east-1"
SPECS = Path(__file__).resolve().parents[2] / "deploy" / "specs"


def _update_endpoint(self: SageMakerResponse) -> ActionResult:
    """``UpdateEndpoint`` for moto: the endpoint now serves the given config's production variants."""
    backend = self.sagemaker_backend
    endpoint = backend.endpoints[self._get_param("EndpointName")]
    config_name = self._get_param("EndpointConfigName")
    config = backend.describe_endpoint_config(config_name)
    endpoint.endpoint_config_name = config_name
    endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
    return ActionResult({"EndpointArn": endpoint.arn})


def example_spec() -> DeploymentSpec:
    """The example spec with a bucket of its own: moto's backends are process-wide, shared with other tests."""
    document = load_spec(SPECS / "propensity.yaml").model_dump(mode="json")
    document["sagemaker"]["bucket"] = f"loyaltylens-test-{uuid.uuid4().hex[:12]}"
    return parse_spec(document)


@pytest.fixture
def moto_url(monkeypatch):
    monkeypatch.setattr(SageMakerResponse, "update_endpoint", _update_endpoint, raising=False)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def session():
    # moto accepts any key; real deployments use the AWS credential chain (no keys in the spec).
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two different exported models: the one serving, and the canary."""
    root = tmp_path_factory.mktemp("sm-models")
    return [export_untrained_model(root / f"m{seed}", seed=seed) for seed in (0, 1)]


def test_deploy_invoke_canary_teardown(moto_url, session, models, tmp_path):
    base = example_spec()
    s3 = session.client("s3", endpoint_url=moto_url)
    s3.create_bucket(Bucket=base.sagemaker.bucket)
    sagemaker = session.client("sagemaker", endpoint_url=moto_url)

    # 1. First deploy: archive uploaded byte for byte, one variant with all the traffic.
    first = SageMakerDeployer(base.with_artifact(str(models[0])), session, moto_url, waiter_delay=1)
    plan = first.deploy()
    expected = build_model_archive(models[0], tmp_path / "model.tar.gz")
    bucket, _, key = plan.model_data_url.removeprefix("s3://").partition("/")
    uploaded = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert uploaded == expected.read_bytes()
    assert archive_digest(expected) in key
    with tarfile.open(fileobj=io.BytesIO(uploaded)) as archive:
        names = set(archive.getnames())
    assert {"model.pt", "feature_contract.json", "code/inference.py", "code/requirements.txt"} <= names
    assert "code/loyaltylens/runtime/codec.py" in names

    model = sagemaker.describe_model(ModelName=plan.model_name)
    assert model["PrimaryContainer"]["ModelDataUrl"] == plan.model_data_url
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert model["ExecutionRoleArn"] == base.sagemaker.execution_role_arn
    status = first.status()
    assert status["status"] == "InService"
    assert list(status["variants"].values()) == [100.0]
    (variant,) = sagemaker.describe_endpoint_config(EndpointConfigName=status["endpoint_config"])["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", base.replicas.min)

    scaling = session.client("application-autoscaling", endpoint_url=moto_url)
    (target,) = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == f"endpoint/{base.name}/variant/{variant['VariantName']}"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (base.replicas.min, base.replicas.max)
    (policy,) = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == base.replicas.target_concurrency

    # 2. Invoke: moto answers the queued canned body (the real handler is tested elsewhere).
    canned = {"Body": json.dumps({"predictions": [0.25]}), "ContentType": "application/json"}
    httpx.post(f"{moto_url}/moto-api/static/sagemaker/endpoint-results", json={"results": [canned]}).raise_for_status()
    assert json.loads(first.invoke(json.dumps({"instances": [[0.0] * 13]}))) == {"predictions": [0.25]}

    # 3. Redeploying the same artifact changes nothing.
    assert first.deploy().endpoint_config == plan.endpoint_config
    assert first.status()["endpoint_config"] == status["endpoint_config"]

    # 4. A new model with canary_percent 10: the serving variant keeps 90 %, the new one gets 10 %.
    canary = SageMakerDeployer(base.with_artifact(str(models[1])), session, moto_url, waiter_delay=1)
    canary_plan = canary.deploy()
    weights = canary.status()["variants"]
    assert weights == {
        plan.endpoint_config["ProductionVariants"][0]["VariantName"]: 90.0,
        canary_plan.endpoint_config["ProductionVariants"][1]["VariantName"]: 10.0,
    }
    served = {v["ModelName"] for v in canary_plan.endpoint_config["ProductionVariants"]}
    assert served == {plan.model_name, canary_plan.model_name}

    assert len(scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]) == 2

    # 5. Promotion: the canary's artifact with canary_percent 0 takes all traffic; the old variant and its
    #    scaling registration go.
    promoted = SageMakerDeployer(
        parse_spec(canary.spec.model_dump(mode="json") | {"canary_percent": 0}), session, moto_url, waiter_delay=1
    )
    promoted_plan = promoted.deploy()
    (canary_variant,) = promoted_plan.endpoint_config["ProductionVariants"]
    assert canary_variant["ModelName"] == canary_plan.model_name
    assert promoted.status()["variants"] == {canary_variant["VariantName"]: 100.0}
    (target,) = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"].endswith(f"/variant/{canary_variant['VariantName']}")

    # 6. Teardown removes the scaling, the endpoint, the three configs and both models.
    deleted = promoted.teardown()
    assert len(deleted) == 7  # 1 scalable target, the endpoint, 3 configs, 2 models
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_models()["Models"] == []
    assert promoted.teardown() == []


def test_s3_tarball_artifact_is_used_as_is(moto_url, session):
    spec = example_spec().with_artifact("s3://prebuilt/loyaltylens/model.tar.gz")
    deployer = SageMakerDeployer(spec, session, moto_url, waiter_delay=1)
    plan = deployer.deploy()
    assert plan.model_data_url == "s3://prebuilt/loyaltylens/model.tar.gz"
    model = session.client("sagemaker", endpoint_url=moto_url).describe_model(ModelName=plan.model_name)
    assert model["PrimaryContainer"]["ModelDataUrl"] == plan.model_data_url
    deployer.teardown()
