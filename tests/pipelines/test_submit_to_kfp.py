"""Submitting the compiled training pipeline to a real KFP API endpoint (``--host``).

No KFP backend runs on the development machine, so this runs only when KFP_HOST points at one
(e.g. the kind cluster from kind-config.yaml with Kubeflow Pipelines installed: KFP_HOST=http://localhost:8088).
"""

import os

import pytest

from loyaltylens.kfp_runner.runner import submit

KFP_HOST = os.environ.get("KFP_HOST")

pytestmark = pytest.mark.skipif(not KFP_HOST, reason="KFP_HOST is not set: no live Kubeflow Pipelines endpoint")


def test_submit_creates_a_run_of_the_compiled_pipeline():
    import kfp

    run_id = submit("training", KFP_HOST, {"n_customers": 2000, "n_days": 150, "max_epochs": 2})
    run = kfp.Client(host=KFP_HOST).get_run(run_id)
    assert run.run_id == run_id
    assert run.display_name.startswith("training-")
