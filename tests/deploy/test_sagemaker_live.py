"""The SageMaker round trip on a real AWS account: the only test here that runs the handler inside AWS's
PyTorch serving image. It creates billable resources (one ml.m5.large for a few minutes) and tears them down.

Set ``LOYALTYLENS_SAGEMAKER_SPEC`` to a spec whose ``sagemaker:`` section names your execution role and
bucket; credentials come from the AWS credential chain as for the CLI.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from botocore.exceptions import ClientError

from loyaltylens.deploy.sagemaker import SageMakerDeployer
from loyaltylens.deploy.spec import load_spec
from loyaltylens.propensity.export import load_model_dir
from tests.model_samples import export_untrained_model, random_feature_rows

SPEC_ENV = "LOYALTYLENS_SAGEMAKER_SPEC"

pytestmark = pytest.mark.skipif(
    not os.environ.get(SPEC_ENV),
    reason=f"{SPEC_ENV} not set (a spec for a real AWS account; creates billable resources)",
)


def test_deploy_invoke_reject_teardown_on_aws(tmp_path):
    model_dir = export_untrained_model(tmp_path / "model")
    spec = load_spec(Path(os.environ[SPEC_ENV])).with_artifact(str(model_dir))
    deployer = SageMakerDeployer(spec)
    module, contract = load_model_dir(model_dir)
    rows = random_feature_rows(contract, 8, seed=2)
    try:
        deployer.deploy()
        answer = json.loads(deployer.invoke(json.dumps({"instances": rows.tolist()})))
        with torch.inference_mode():
            expected = module(torch.from_numpy(rows)).numpy()[:, 0]
        np.testing.assert_allclose(answer["predictions"], expected, atol=1e-6)
        with pytest.raises(ClientError) as bad:
            deployer.invoke(json.dumps({"instances": [rows[0, :-1].tolist()]}))
        assert bad.value.response.get("OriginalStatusCode") == 400
    finally:
        deployer.teardown()
