"""The Vertex AI round trip on a real Google Cloud project: upload, deploy, predict, teardown. It creates
billable resources (one n1-standard-2 node for the length of the test) and removes them.

Set ``LOYALTYLENS_VERTEX_SPEC`` to a spec whose ``vertex:`` section names your project, whose image Vertex can
pull, and whose ``container.env`` names an MLflow server Vertex can reach; credentials are Google
application-default credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loyaltylens.deploy.spec import load_spec
from loyaltylens.deploy.vertex import VertexDeployer
from loyaltylens.propensity.contract import FeatureContract
from tests.model_samples import random_feature_rows

SPEC_ENV = "LOYALTYLENS_VERTEX_SPEC"

pytestmark = pytest.mark.skipif(
    not os.environ.get(SPEC_ENV), reason=f"{SPEC_ENV} not set (a spec for a real Google Cloud project; billable)"
)


def test_deploy_predict_teardown_on_vertex():
    spec = load_spec(Path(os.environ[SPEC_ENV]))
    deployer = VertexDeployer(spec)
    rows = random_feature_rows(FeatureContract.from_definitions(), 3, seed=4).tolist()
    try:
        deployer.deploy()
        answer = deployer.invoke({"instances": rows})
        assert len(answer["predictions"]) == 3
        assert all(0.0 <= p <= 1.0 for p in answer["predictions"])
    finally:
        deployer.teardown()
