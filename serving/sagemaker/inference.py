"""SageMaker PyTorch serving-container handler for the exported propensity model.

The container unpacks ``model.tar.gz`` into its model dir, puts ``code/`` on ``sys.path``, imports this file
as ``inference`` and calls ``model_fn(model_dir)`` once, then per request ``input_fn(body, content_type)``
→ ``predict_fn(data, model)`` → ``output_fn(prediction, accept)``. The archive carries ``model.pt`` and
``feature_contract.json`` at its root and, under ``code/``, this file, the ``loyaltylens`` package and a
``requirements.txt`` the container installs at start (see ``loyaltylens.deploy.sagemaker.build_model_archive``).

Requests are validated by the same code as the KServe predictor (``decode_v1_instances``, i.e. the feature
contract), so the same body gets the same answer or the same complaint:

    application/json  {"instances": [{"recency_days": 3.0, ..., "segment": "premium"}, ...]} or rows
                      -> {"predictions": [0.41, ...]}
    text/csv          rows of numbers in contract order, or a header line of feature names then rows
                      (categoricals as labels or codes) -> one probability per line

A bad request raises ``BadRequestError``, a ``BaseInferenceToolkitError`` with status 400 (415 for an
unsupported content type, 406 for an unsupported accept type), which the toolkit answers with that status;
any other exception would be a 500.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sagemaker_inference.errors import BaseInferenceToolkitError

from loyaltylens.config import get_settings
from loyaltylens.errors import InvalidInputError
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.export import load_model_dir
from loyaltylens.runtime.codec import decode_v1_instances

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
CSV_CONTENT_TYPE = "text/csv"
WARMUP_BATCH_SIZES = (1, 2, 8, 32, 1, 8)  # TorchScript optimises its graph on the first calls per shape


class BadRequestError(BaseInferenceToolkitError):
    """The request cannot be scored; the toolkit answers with ``status_code`` and the message."""

    def __init__(self, message: str, status_code: int = 400, phrase: str = "Bad Request"):
        super().__init__(status_code, message, phrase)


@dataclass(frozen=True)
class LoadedModel:
    module: torch.jit.ScriptModule
    contract: FeatureContract
    max_batch_size: int


def model_fn(model_dir: str) -> LoadedModel:
    """Load ``model.pt`` + ``feature_contract.json`` from the unpacked archive, warmed up."""
    module, contract = load_model_dir(Path(model_dir))
    with torch.inference_mode():
        for batch_size in WARMUP_BATCH_SIZES:
            module(torch.zeros(batch_size, contract.n_features))
    logger.info("propensity model loaded from %s (%d features)", model_dir, contract.n_features)
    return LoadedModel(module, contract, get_settings().max_batch_size)


def input_fn(body: bytes | bytearray | str, content_type: str) -> dict:
    """The body as a KServe v1 document ``{"instances": [...]}``; validation happens against the contract in
    ``predict_fn``, which has the model."""
    media_type = (content_type or JSON_CONTENT_TYPE).split(";")[0].strip().lower()
    text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    if media_type == JSON_CONTENT_TYPE:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequestError(f"request body is not JSON ({exc})") from None
    if media_type == CSV_CONTENT_TYPE:
        return {"instances": _csv_instances(text)}
    raise BadRequestError(
        f"unsupported content type {content_type!r}; send {JSON_CONTENT_TYPE} or {CSV_CONTENT_TYPE}",
        415,
        "Unsupported Media Type",
    )


def predict_fn(data: dict, model: LoadedModel) -> np.ndarray:
    """Validate with the feature contract and score: probabilities ``[N, 1]``."""
    try:
        features = decode_v1_instances(data, model.contract, model.max_batch_size)
    except InvalidInputError as exc:
        raise BadRequestError(str(exc)) from None
    with torch.inference_mode():
        return model.module(torch.from_numpy(features)).numpy()


def output_fn(prediction: np.ndarray, accept: str) -> tuple[str, str]:
    """The KServe v1 answer ``{"predictions": [...]}`` as JSON, or one probability per CSV line."""
    media_type = (accept or JSON_CONTENT_TYPE).split(";")[0].strip().lower()
    probabilities = prediction[:, 0].tolist()
    if media_type in (JSON_CONTENT_TYPE, "*/*"):
        return json.dumps({"predictions": probabilities}), JSON_CONTENT_TYPE
    if media_type == CSV_CONTENT_TYPE:
        return "".join(f"{p!r}\n" for p in probabilities), CSV_CONTENT_TYPE
    raise BadRequestError(
        f"unsupported accept type {accept!r}; ask for {JSON_CONTENT_TYPE} or {CSV_CONTENT_TYPE}",
        406,
        "Not Acceptable",
    )


def _csv_instances(text: str) -> list:
    """CSV rows -> v1 instances: numeric rows as lists, or records when the first line names the columns."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise BadRequestError("CSV body has no rows")
    if all(_is_number(cell) for cell in rows[0]):
        return [[_number(cell) for cell in row] for row in rows]
    header = [cell.strip() for cell in rows[0]]
    instances = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise BadRequestError(f"CSV line {line} has {len(row)} values for {len(header)} columns")
        instances.append(
            {name: _number(cell) if _is_number(cell) else cell.strip() for name, cell in zip(header, row, strict=True)}
        )
    return instances


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _number(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise BadRequestError(f"CSV value {cell!r} is not a number") from None
