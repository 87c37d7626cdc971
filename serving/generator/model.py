"""The offer-copy generator as a KServe ``Model``: the local GPT-style model behind v1, v2 and OpenAI APIs.

Any text is a valid prompt. The model conditions on the offer fields when the text is the product's own
rendered user message (``prompt.yaml`` in its model directory, e.g. ``offer_copy@1.0.0``), and on the fields
it can read out of free text otherwise (:func:`loyaltylens.generation.corpus.conditioning_variables`); either
way the text reaches the model only as a segment / channel / category context, never as an instruction.
Reading a prompt is linear in its length and runs in a worker thread, so a long hostile prompt never holds
the event loop; prompts longer than :data:`MAX_PROMPT_CHARS` are refused (400).

  - KServe v1 REST: ``POST /v1/models/{name}:predict`` ``{"instances": ["<prompt>", ...]}`` →
    ``{"predictions": ["<copy JSON>", ...]}``.
  - Open Inference Protocol v2 (REST and gRPC): BYTES input ``prompt`` ``[N]`` → BYTES output ``completion`` ``[N]``.
  Both take an optional sampling temperature in the request's ``parameters`` (0 = greedy).
  - OpenAI ``/openai/v1/{chat/completions,completions,models}``: see :mod:`serving.generator.openai_api`.

Concurrent requests are generated together: a micro-batcher collects them into one ``generate`` call per
set of sampling parameters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput
from kserve.protocol.grpc.grpc_predict_v2_pb2 import InferParameter
from starlette.concurrency import run_in_threadpool

from loyaltylens.generation.corpus import conditioning_variables
from loyaltylens.generation.local_model import Completion, CopyStream, LocalCopyModel, Sampling
from loyaltylens.runtime.batching import MicroBatcher

logger = logging.getLogger(__name__)

INPUT_NAME = "prompt"
OUTPUT_NAME = "completion"
DEFAULT_TEMPERATURE = 0.8
MAX_TEMPERATURE = 2.0
MAX_PROMPTS_PER_REQUEST = 64  # prompts x n completions in one request
MAX_PROMPT_CHARS = 16_000  # one prompt (all messages of a chat request); copy needs a few hundred


class GeneratorModel(Model):
    """Offer copy for prompts.

    Args:
        name: the model name in URL paths (and the OpenAI ``model`` field).
        model_dir: a generator model directory (see :mod:`loyaltylens.generation.local_model`).
        max_batch_size: most completions one request may ask for.
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
    def variables(self, texts: Sequence[object]) -> dict[str, str]:
        """What the model conditions on for one prompt given as ``texts`` (a chat's messages, or one
        prompt); ``InvalidInput`` (400) for non-text or an over-long prompt. Linear time: call it off the
        event loop for large requests (:meth:`variables_off_loop`)."""
        for text in texts:
            if not isinstance(text, str):
                raise InvalidInput(f"each prompt must be a string, got {type(text).__name__}")
        length = sum(len(text) for text in texts)
        if length > MAX_PROMPT_CHARS:
            raise InvalidInput(f"the prompt is {length:,} characters long; at most {MAX_PROMPT_CHARS:,}")
        return conditioning_variables(self.copy_model.prompt, texts)

    async def variables_off_loop(self, prompts: Sequence[Sequence[object]]) -> list[dict[str, str]]:
        """:meth:`variables` of every prompt, in a worker thread."""
        return await run_in_threadpool(lambda: [self.variables(texts) for texts in prompts])

    def check_count(self, n: int) -> None:
        if n > self.max_batch_size:
            raise InvalidInput(f"{n} completions asked for in one request; at most {self.max_batch_size}")

    async def generate(self, variables: list[dict[str, str]], sampling: Sampling) -> list[Completion]:
        """Copy for each entry, generated in the next batch."""
        if not 0 <= sampling.temperature <= MAX_TEMPERATURE:
            raise InvalidInput(f"temperature must be between 0 and {MAX_TEMPERATURE}, got {sampling.temperature}")
        rows = np.empty((len(variables), 2), dtype=object)
        for i, values in enumerate(variables):
            rows[i] = (values, sampling)
        return list((await self._batcher.submit(rows))[:, 0])

    def stream(self, variables: dict[str, str], sampling: Sampling) -> CopyStream:
        return self.copy_model.stream(variables, **vars(sampling))

    def _generate_rows(self, rows: np.ndarray) -> np.ndarray:
        """``[N, 2]`` (variables, sampling) → ``[N, 1]`` completions; one generate call per sampling."""
        out = np.empty((len(rows), 1), dtype=object)
        for sampling in set(rows[:, 1]):
            index = [i for i, s in enumerate(rows[:, 1]) if s == sampling]
            completions = self.copy_model.generate([rows[i, 0] for i in index], **vars(sampling))
            for i, completion in zip(index, completions, strict=True):
                out[i, 0] = completion
        return out

    # --- KServe v1 / v2 ---------------------------------------------------------------------------------
    async def predict(
        self, payload: dict | InferRequest, headers: dict[str, str] | None = None
    ) -> dict | InferResponse:
        if isinstance(payload, InferRequest):
            temperature = _temperature((payload.parameters or {}).get("temperature", DEFAULT_TEMPERATURE))
            variables = await self.variables_off_loop([[p] for p in self._v2_prompts(payload)])
            generated = await self.generate(variables, Sampling(temperature))
            output = InferOutput(OUTPUT_NAME, [len(generated)], "BYTES", [g.text for g in generated])
            return InferResponse(payload.id or "", self.name, [output])
        if isinstance(payload, bytes | str):  # KServe passes non-JSON content types on as raw bytes
            try:
                payload = json.loads(payload)
            except ValueError as exc:
                raise InvalidInput(f"request body is not JSON ({exc})") from None
        instances = payload.get("instances") if isinstance(payload, dict) else None
        if not isinstance(instances, list) or not instances:
            raise InvalidInput('expected {"instances": ["<prompt>", ...]} with at least one prompt')
        self.check_count(len(instances))
        parameters = payload.get("parameters") or {}
        temperature = _temperature(
            parameters.get("temperature", DEFAULT_TEMPERATURE) if isinstance(parameters, dict) else None
        )
        generated = await self.generate(await self.variables_off_loop([[p] for p in instances]), Sampling(temperature))
        return {"predictions": [g.text for g in generated]}

    def _v2_prompts(self, request: InferRequest) -> list[str]:
        inputs = [i for i in request.inputs if i.name == INPUT_NAME]
        if len(request.inputs) != 1 or not inputs:
            raise InvalidInput(f"expected exactly one input '{INPUT_NAME}' (BYTES, shape [N])")
        tensor = inputs[0]
        if tensor.datatype != "BYTES":
            raise InvalidInput(f"input '{INPUT_NAME}' must be BYTES, got {tensor.datatype}")
        # as_numpy reads REST JSON data and gRPC raw contents alike
        prompts = [p.decode(errors="replace") if isinstance(p, bytes) else p for p in tensor.as_numpy().ravel()]
        if not prompts:
            raise InvalidInput(f"input '{INPUT_NAME}' is empty")
        self.check_count(len(prompts))
        return prompts


def _temperature(value: object) -> float:
    """The sampling temperature a v1/v2 request asks for in its ``parameters``."""
    if isinstance(value, InferParameter):  # gRPC: a oneof of typed fields
        value = getattr(value, value.WhichOneof("parameter_choice") or "", None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"parameters.temperature must be a number, got {value!r}")
    return float(value)
