"""TorchServe handler for the exported propensity model (``model.pt`` + ``feature_contract.json``).

It answers the KServe v1 body of the KServe predictor (``serving/propensity``), decoded and validated by
the same function (``decode_v1_instances``, i.e. the feature contract), so one client works against both:

    request   {"instances": [{"recency_days": 3.0, ..., "segment": "premium"}, ...]}   feature records
              {"instances": [[3.0, ..., 1.0], ...]}                                  rows, contract order
    response  {"predictions": [0.41, ...]}                                           one per instance

Errors: a bad request raises ``PredictionException(message, 400)``, which TorchServe 0.12 answers with
HTTP 400 and ``{"code": 400, "type": "InternalServerException", "message": <the contract's message>}``
(the frontend fixes "type"); the worker keeps serving. Any other exception becomes HTTP 503
"Prediction failed". The exception fails the whole TorchServe batch, so the model is served with
``batchSize`` 1: each HTTP request (which already carries a batch of instances) is its own batch, and a
bad request cannot fail another client's.

TorchServe's worker imports this file on its own from the unpacked archive (a file with exactly one
class), so it depends only on ``ts`` and the installed ``loyaltylens`` package; the codec it shares with
the KServe predictor imports ``kserve``, so the TorchServe image needs ``loyaltylens[serve]`` too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from ts.torch_handler.base_handler import BaseHandler
from ts.utils.util import PredictionException

from loyaltylens.config import get_settings
from loyaltylens.errors import InvalidInputError
from loyaltylens.propensity.export import load_model_dir
from loyaltylens.runtime.codec import decode_v1_instances

logger = logging.getLogger(__name__)

BAD_REQUEST = 400
JSON_CONTENT_TYPE = "application/json"
# Run once at load: TorchScript's profiling executor optimises the graph during its first calls, which
# are several times slower, so they should not land on the first requests.
WARMUP_BATCH_SIZES = (1, 2, 8, 32, 1, 8)


class PropensityHandler(BaseHandler):
    """Loads the model directory TorchServe unpacked and answers ``{"instances": [...]}`` requests."""

    def initialize(self, context) -> None:
        model_dir = Path(context.system_properties["model_dir"])
        self.model, self.contract = load_model_dir(model_dir)
        self.manifest = context.manifest
        self.device = torch.device("cpu")
        self.max_batch_size = get_settings().max_batch_size
        with torch.inference_mode():
            for batch_size in WARMUP_BATCH_SIZES:
                self.model(torch.zeros(batch_size, self.contract.n_features))
        # Rows of each request in the batch being handled: written by preprocess, read by postprocess.
        # Instance state is safe here because a worker process handles one batch at a time.
        self.rows_per_request: list[int] = []
        self.initialized = True
        logger.info(
            "propensity model loaded from %s (%d features, feature version %s, %d torch threads)",
            model_dir, self.contract.n_features, self.contract.feature_version, torch.get_num_threads(),
        )

    def preprocess(self, data: list[dict]) -> torch.Tensor:
        """Validate each request of the batch; stack their instances into one float32 ``[N, F]`` tensor."""
        try:
            matrices = [
                decode_v1_instances(request_body(request), self.contract, self.max_batch_size)
                for request in data
            ]
        except InvalidInputError as exc:
            raise PredictionException(str(exc), BAD_REQUEST) from exc
        self.rows_per_request = [len(matrix) for matrix in matrices]
        return torch.from_numpy(matrices[0] if len(matrices) == 1 else np.concatenate(matrices))

    def inference(self, data: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(data)  # (N, 1)

    def postprocess(self, data: torch.Tensor) -> list[dict]:
        """One ``{"predictions": [...]}`` per request, in request order, sent as JSON."""
        probabilities = data.reshape(-1).tolist()
        responses, start = [], 0
        for index, rows in enumerate(self.rows_per_request):
            responses.append({"predictions": probabilities[start:start + rows]})
            # Without it TorchServe sends the JSON with no Content-Type header.
            self.context.set_response_content_type(index, JSON_CONTENT_TYPE)
            start += rows
        return responses


def request_body(request: Mapping) -> object:
    """The JSON body of one TorchServe request: parsed if sent as ``application/json``, else bytes or text."""
    body = request.get("data")
    if body is None:
        body = request.get("body")
    if body is None:
        # Form-encoded bodies are split into form fields by the frontend and arrive under other names.
        raise InvalidInputError(f"send the request body as JSON (Content-Type: {JSON_CONTENT_TYPE})")
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"request body is not valid JSON ({exc})") from None
    return body
