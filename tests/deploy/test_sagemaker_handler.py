"""The SageMaker handler, loaded from the built ``model.tar.gz`` the way the SageMaker PyTorch serving container
loads it, answers exactly like the KServe predictor and rejects bad input with a 4xx status.

The archive is unpacked into a model dir; a fresh Python process gets ``code/`` on its path (as the container
does, so the archive's own ``loyaltylens`` copy is the one imported), and the SageMaker inference toolkit's
``Transformer`` (the dispatcher inside the container) imports ``inference``, calls ``model_fn(model_dir)``
once and ``input_fn`` -> ``predict_fn`` -> ``output_fn`` per request, mapping errors to HTTP statuses.
The same bodies go to a real ``python -m serving.propensity`` KServe server.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import numpy as np
import pytest

from loyaltylens.deploy.sagemaker import build_model_archive
from loyaltylens.local.stack import start_propensity_stack
from loyaltylens.propensity.contract import FeatureContract
from tests.model_samples import export_untrained_model, random_feature_rows

MODEL_NAME = "propensity"
JSON, CSV = "application/json", "text/csv"

# Run in the unpacked archive's context: the toolkit's dispatcher, with a stand-in for the model server's
# per-request context object (request headers in, response status and content type out).
CONTAINER_SCRIPT = r"""
import json, sys
import inference, loyaltylens
from sagemaker_inference.transformer import Transformer

class Context:
    def __init__(self, model_dir, headers):
        self.system_properties = {"model_dir": model_dir, "gpu_id": None}
        self.request_processor = [self]
        self.headers, self.status, self.content_type = headers, 200, None
    def get_request_properties(self):
        return self.headers
    def set_response_status(self, code, phrase):
        self.status = code
    def set_response_content_type(self, index, content_type):
        self.content_type = content_type

model_dir, cases = sys.argv[1], json.load(sys.stdin)
transformer, answers = Transformer(), []
for case in cases:
    context = Context(model_dir, {"Content-Type": case["content_type"], "Accept": case["accept"]})
    (body,) = transformer.transform([{"body": case["body"].encode()}], context)
    answers.append({"status": context.status, "content_type": context.content_type, "body": body})
json.dump({"inference": inference.__file__, "loyaltylens": loyaltylens.__file__, "answers": answers}, sys.stdout)
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return export_untrained_model(tmp_path_factory.mktemp("sm-handler-model"), feature_version="sm-test")


@pytest.fixture(scope="module")
def contract(model_dir) -> FeatureContract:
    return FeatureContract.load(model_dir)


@pytest.fixture(scope="module")
def unpacked(model_dir, tmp_path_factory) -> Path:
    """``model.tar.gz`` built for SageMaker, unpacked as the container unpacks it into /opt/ml/model."""
    root = tmp_path_factory.mktemp("opt-ml-model")
    archive = build_model_archive(model_dir, root.parent / f"{root.name}.tar.gz")
    with tarfile.open(archive) as packed:
        packed.extractall(root, filter="data")
    return root


@pytest.fixture(scope="module")
def kserve_url(model_dir, tmp_path_factory) -> str:
    with start_propensity_stack(model_dir, tmp_path_factory.mktemp("sm-logs"), with_transformer=False) as stack:
        yield f"{stack.predictor.http_url}/v1/models/{MODEL_NAME}:predict"


def in_container(unpacked: Path, cases: list[dict]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTYLENS_")}
    env |= {"PYTHONPATH": str(unpacked / "code"), "SAGEMAKER_PROGRAM": "inference.py"}
    done = subprocess.run(
        [sys.executable, "-c", CONTAINER_SCRIPT, str(unpacked)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env=env,
        cwd=unpacked,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def records(contract: FeatureContract, rows: np.ndarray) -> list[dict]:
    return [
        {
            f.name: f.categories[int(v)] if f.is_categorical else float(v)
            for f, v in zip(contract.fields, row, strict=True)
        }
        for row in rows
    ]


def as_csv(rows: list[list], header: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def test_archive_handler_matches_kserve_and_rejects_bad_input(unpacked, contract, kserve_url):
    rows = random_feature_rows(contract, 40, seed=5)
    named = records(contract, rows)
    good = {
        "json records": ({"instances": named}, json.dumps({"instances": named}), JSON),
        "json rows": ({"instances": rows.tolist()}, json.dumps({"instances": rows.tolist()}), JSON),
        "csv rows": ({"instances": rows.tolist()}, as_csv(rows.tolist()), CSV),
        "csv header + labels": (
            {"instances": named},
            as_csv([[r[n] for n in contract.names] for r in named], list(contract.names)),
            CSV,
        ),
    }
    bad_record = dict(named[0], segment="no-such-segment")
    missing = {k: v for k, v in named[0].items() if k != "recency_days"}
    bad = {
        "unknown category": {"instances": [bad_record]},
        "missing feature": {"instances": [missing]},
        "short row": {"instances": [rows[0, :-1].tolist()]},
        "out of range": {"instances": [dict(named[0], recency_days=-5.0)]},
        "empty": {"instances": []},
        "no instances": {"rows": rows.tolist()},
    }
    cases = [{"body": body, "content_type": ctype, "accept": JSON} for _, body, ctype in good.values()]
    cases += [{"body": json.dumps(doc), "content_type": JSON, "accept": JSON} for doc in bad.values()]
    cases += [
        {"body": "not json", "content_type": JSON, "accept": JSON},
        {"body": "{}", "content_type": "application/x-npy", "accept": JSON},
        {"body": json.dumps({"instances": rows[:3].tolist()}), "content_type": JSON, "accept": CSV},
        {"body": json.dumps({"instances": rows[:3].tolist()}), "content_type": JSON, "accept": "image/png"},
    ]
    result = in_container(unpacked, cases)
    assert Path(result["loyaltylens"]).is_relative_to(unpacked / "code")  # the archive's copy, not the venv's
    assert Path(result["inference"]) == unpacked / "code" / "inference.py"
    answers = iter(result["answers"])

    with httpx.Client(timeout=30) as client:
        for label, (kserve_body, _, _) in good.items():
            answer = next(answers)
            assert (answer["status"], answer["content_type"]) == (200, JSON), label
            expected = client.post(kserve_url, json=kserve_body).raise_for_status().json()["predictions"]
            got = json.loads(answer["body"])["predictions"]
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6, err_msg=label)
            assert len(set(got)) > 1  # an untrained model still answers row by row
        for label, doc in bad.items():
            answer = next(answers)
            kserve = client.post(kserve_url, json=doc)
            assert kserve.status_code == answer["status"] == 400, label
            # The same validation code: KServe's error message is the handler's.
            assert kserve.json()["error"] in answer["body"], label

    not_json, npy, csv_out, png = answers
    assert (not_json["status"], npy["status"], png["status"]) == (400, 415, 406)
    assert "not JSON" in not_json["body"] and "unsupported content type" in npy["body"]
    assert csv_out["status"] == 200 and csv_out["content_type"] == CSV
    assert len(csv_out["body"].splitlines()) == 3
