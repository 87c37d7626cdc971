"""The offer-copy generator as a KServe ``Model``: the local GPT-style model behind v1, v2 and OpenAI APIs.

Every request carries rendered *user messages* of the prompt the model was trained with (``prompt.yaml`` in
its model directory, e.g. ``offer_copy@1.0.0``); the server reads the prompt variables back out of them
(:meth:`PromptSpec.parse_user`), so a message that does not follow that template is a client error (400),
and offer or customer text can never reach the model as an instruction.

  - KServe v1 REST: ``POST /v1/models/{name}:predict`` ``{"instances": ["<user message>", ...]}`` →
    ``{"predictions": ["<copy JSON>", ...]}``.
  - Open Inference Protocol v2 (REST and gRPC): BYTES input ``prompt`` ``[N]`` → BYTES output ``completion`` ``[N]``.
  Both take an optional sampling temperature in the request's ``parameters`` (0 = greedy).
  - OpenAI ``/openai/v1/{chat/completions,completions,models}``: see :mod:`serving.generator.openai_api`.

Concurrent requests are generated together: a micro-batcher collects them into one ``generate`` call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput
from kserve.protocol.grpc.grpc_predict_v2_pb2 import InferParameter

from loyaltylens.errors import InvalidInputError
from loyaltylens.generation.corpus import offer_context
from loyaltylens.generation.local_model import LocalCopyModel
from loyaltylens.runtime.batching import MicroBatcher

logger = logging.getLogger(__name__)

INPUT_NAME = "prompt"
OUTPUT_NAME = "completion"
DEFAULT_TEMPERATURE = 0.8
MAX_TEMPERATURE = 2.0
MAX_PROMPTS_PER_REQUEST = 64


@dataclass(frozen=True)
class Generated:
    text: str
    tokens: int


class GeneratorModel(Model):
    """Offer copy for rendered prompts.

    Args:
        name: the model name in URL paths (and the OpenAI ``model`` field).
        model_dir: a generator model directory (see :mod:`loyaltylens.generation.local_model`).
        max_batch_size: most prompts one request may carry.
        max_batch_rows / batch_window_s: micro-batching limits.
    """

    def __init__(self, name: str, model_dir: Path, max_batch_size: int, max_batch_rows: int, batch_window_s: float):
        super().__init__(name)
        self.model_dir = Path(model_dir)
        self.max_batch_size = max_batch_size
        self.max_batch_rows = max_batch_rows
        self.batch_window_s = batch_window_s
        self.copy_model: LocalCopyModel | None = None
        self._batcher: MicroBatcher | None = None

    def load(self) -> bool:
        torch.set_num_threads(1)  # batches bring the throughput; one thread keeps the event loop responsive
        self.copy_model = LocalCopyModel(self.model_dir)
        self._batcher = MicroBatcher(self._generate_rows, self.max_batch_rows, self.batch_window_s)
        logger.info("loaded generator %s from %s (prompt %s)", self.name, self.model_dir, self.copy_model.prompt.ref)
        self.ready = True
        return self.ready

    def get_input_types(self) -> list[dict]:
        return [{"name": INPUT_NAME, "datatype": "BYTES", "shape": [-1]}]

    def get_output_types(self) -> list[dict]:
        return [{"name": OUTPUT_NAME, "datatype": "BYTES", "shape": [-1]}]

    # --- shared by every protocol -----------------------------------------------------------------------
    def variables(self, user_message: object) -> dict[str, str]:
        """The prompt variables of one rendered user message; ``InvalidInput`` (400) if it isn't one."""
        if not isinstance(user_message, str):
            raise InvalidInput(f"each prompt must be a string, got {type(user_message).__name__}")
        try:
            values = self.copy_model.prompt.parse_user(user_message)
            offer_context(values)  # refuses unknown segments, channels and categories
        except InvalidInputError as exc:
            raise InvalidInput(str(exc)) from None
        return values

    async def generate(
        self, variables: list[dict[str, str]], temperature: float = DEFAULT_TEMPERATURE
    ) -> list[Generated]:
        """Copy for each entry, generated in the next batch."""
        if not 0 <= temperature <= MAX_TEMPERATURE:
            raise InvalidInput(f"temperature must be between 0 and {MAX_TEMPERATURE}, got {temperature}")
        rows = np.empty((len(variables), 2), dtype=object)
        for i, values in enumerate(variables):
            rows[i] = (values, temperature)
        out = await self._batcher.submit(rows)
        return [Generated(text, tokens) for text, tokens in out]

    def stream(self, variables: dict[str, str], temperature: float = DEFAULT_TEMPERATURE) -> Iterator[str]:
        if not 0 <= temperature <= MAX_TEMPERATURE:
            raise InvalidInput(f"temperature must be between 0 and {MAX_TEMPERATURE}, got {temperature}")
        return self.copy_model.stream(variables, temperature)

    def _generate_rows(self, rows: np.ndarray) -> np.ndarray:
        """``[N, 2]`` (variables, temperature) → ``[N, 2]`` (text, tokens); one generate call per temperature."""
        out = np.empty((len(rows), 2), dtype=object)
        for temperature in {float(t) for t in rows[:, 1]}:
            index = [i for i, t in enumerate(rows[:, 1]) if float(t) == temperature]
            for i, completion in zip(
                index, self.copy_model.generate([rows[i, 0] for i in index], temperature), strict=True
            ):
                out[i] = (completion.text, completion.tokens)
        return out

    # --- KServe v1 / v2 ---------------------------------------------------------------------------------
    async def predict(
        self, payload: dict | InferRequest, headers: dict[str, str] | None = None
    ) -> dict | InferResponse:
        if isinstance(payload, InferRequest):
            temperature = _temperature((payload.parameters or {}).get("temperature", DEFAULT_TEMPERATURE))
            generated = await self.generate([self.variables(p) for p in self._v2_prompts(payload)], temperature)
            output = InferOutput(OUTPUT_NAME, [len(generated)], "BYTES", [g.text for g in generated])
            return InferResponse(payload.id or "", self.name, [output])
        if isinstance(payload, bytes | str):  # KServe passes non-JSON content types on as raw bytes
            try:
                payload = json.loads(payload)
            except ValueError as exc:
                raise InvalidInput(f"request body is not JSON ({exc})") from None
        instances = payload.get("instances") if isinstance(payload, dict) else None
        if not isinstance(instances, list) or not instances:
            raise InvalidInput('expected {"instances": ["<user message>", ...]} with at least one prompt')
        self._check_size(len(instances))
        parameters = payload.get("parameters") or {}
        temperature = _temperature(
            parameters.get("temperature", DEFAULT_TEMPERATURE) if isinstance(parameters, dict) else None
        )
        generated = await self.generate([self.variables(p) for p in instances], temperature)
        return {"predictions": [g.text for g in generated]}

    def _v2_prompts(self, request: InferRequest) -> list[str]:
        inputs = [i for i in request.inputs if i.name == INPUT_NAME]
        if len(request.inputs) != 1 or not inputs:
            raise InvalidInput(f"expected exactly one input '{INPUT_NAME}' (BYTES, shape [N])")
        tensor = inputs[0]
        if tensor.datatype != "BYTES":
            raise InvalidInput(f"input '{INPUT_NAME}' must be BYTES, got {tensor.datatype}")
        # as_numpy reads REST JSON data and gRPC raw contents alike
        prompts = [p.decode() if isinstance(p, bytes) else p for p in tensor.as_numpy().ravel()]
        if not prompts:
            raise InvalidInput(f"input '{INPUT_NAME}' is empty")
        self._check_size(len(prompts))
        return prompts

    def _check_size(self, n: int) -> None:
        if n > self.max_batch_size:
            raise InvalidInput(f"{n} prompts in one request; at most {self.max_batch_size}")


def _temperature(value: object) -> float:
    """The sampling temperature a v1/v2 request asks for in its ``parameters``."""
    if isinstance(value, InferParameter):  # gRPC: a oneof of typed fields
        value = getattr(value, value.WhichOneof("parameter_choice") or "", None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"parameters.temperature must be a number, got {value!r}")
    return float(value)
