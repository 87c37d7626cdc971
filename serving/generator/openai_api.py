"""OpenAI-compatible routes for the generator, on the KServe ``ModelServer``'s own FastAPI app.

KServe 0.21 ships ``kserve.protocol.rest.openai`` (``OpenAIModel``, ``OpenAIChatAdapterModel`` and the
``/openai/v1`` endpoints), but its request and response types are vLLM's
(``kserve/protocol/rest/openai/types/__init__.py`` imports ``vllm.entrypoints.openai...``): without vLLM the
package does not import and ``ModelServer`` registers no OpenAI routes. vLLM is not installed here (and has
no CPU wheel for this machine), so this module serves the same paths and response shapes itself:

  GET  /openai/v1/models               {"object": "list", "data": [{"id": <model name>, "object": "model", ...}]}
  POST /openai/v1/completions          prompt = a rendered user message (or a list of them)
  POST /openai/v1/chat/completions     the first user message is the rendered offer prompt; system and later
                                       messages (retry feedback) are accepted and not fed to the model,
                                       which only ever sees the variables read back from the offer prompt

``"stream": true`` answers with server-sent events: ``data: <chunk JSON>`` lines, then ``data: [DONE]``.
Client errors are HTTP 400/404 with OpenAI's error body ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from kserve.errors import InvalidInput
from pydantic import BaseModel, ConfigDict, Field

from serving.generator.model import DEFAULT_TEMPERATURE, MAX_TEMPERATURE, Generated, GeneratorModel

PREFIX = "/openai/v1"


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object"]


class _Request(BaseModel):
    # Knobs the small model has no use for (max_tokens: its copy is always short; seed, stop, ...) are ignored.
    model_config = ConfigDict(extra="ignore")

    model: str
    temperature: float = Field(default=DEFAULT_TEMPERATURE, ge=0, le=MAX_TEMPERATURE)
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = False


class ChatCompletionRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)
    response_format: ResponseFormat | None = None  # the model always answers JSON, so both kinds are honoured


class CompletionRequest(_Request):
    prompt: str | list[str]


def add_openai_routes(app: FastAPI, model: GeneratorModel) -> None:
    """Register ``/openai/v1/{models,completions,chat/completions}`` for ``model`` on ``app``."""

    async def list_models() -> dict:
        return {"object": "list", "data": [_model_card(model)]}

    @_openai_errors
    async def completions(request: CompletionRequest):
        _check_model(model, request.model)
        prompts = [request.prompt] if isinstance(request.prompt, str) else request.prompt
        if not prompts:
            raise InvalidInput("prompt is empty")
        variables = [model.variables(p) for p in prompts]
        if request.stream:
            if len(variables) != 1:
                raise InvalidInput("streaming takes exactly one prompt")
            return _sse(_completion_chunks(model.name, model.stream(variables[0], request.temperature)))
        generated = await model.generate(variables, request.temperature)
        return {
            **_envelope("cmpl", "text_completion", model.name),
            "choices": [
                {"index": i, "text": g.text, "finish_reason": "stop", "logprobs": None} for i, g in enumerate(generated)
            ],
            "usage": _usage(generated),
        }

    @_openai_errors
    async def chat_completions(request: ChatCompletionRequest):
        _check_model(model, request.model)
        user = next((m.content for m in request.messages if m.role == "user"), None)
        if user is None:
            raise InvalidInput("messages contain no user message with the offer prompt")
        variables = model.variables(user)
        if request.stream:
            return _sse(_chat_chunks(model.name, model.stream(variables, request.temperature)))
        (generated,) = await model.generate([variables], request.temperature)
        return {
            **_envelope("chatcmpl", "chat.completion", model.name),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": generated.text}, "finish_reason": "stop"}
            ],
            "usage": _usage([generated]),
        }

    app.add_api_route(f"{PREFIX}/models", list_models, methods=["GET"], tags=["OpenAI"])
    app.add_api_route(f"{PREFIX}/completions", completions, methods=["POST"], tags=["OpenAI"])
    app.add_api_route(f"{PREFIX}/chat/completions", chat_completions, methods=["POST"], tags=["OpenAI"])


class _UnknownModel(LookupError):
    pass


def _openai_errors(handler: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    """Answer client errors of an OpenAI route with OpenAI's error body (400 bad request, 404 unknown model)."""

    @functools.wraps(handler)  # keeps the request model in the signature FastAPI reads
    async def answer(request):
        try:
            return await handler(request)
        except InvalidInput as exc:
            return _error(400, str(exc))
        except _UnknownModel as exc:
            return _error(404, str(exc), "model_not_found")

    return answer


def _check_model(model: GeneratorModel, requested: str) -> None:
    if requested != model.name:
        raise _UnknownModel(f"model '{requested}' is not served here; available: ['{model.name}']")


def _model_card(model: GeneratorModel) -> dict:
    return {"id": model.name, "object": "model", "created": 0, "owned_by": "loyaltylens"}


def _envelope(prefix: str, kind: str, name: str) -> dict:
    return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()), "model": name}


def _usage(generated: list[Generated]) -> dict:
    tokens = sum(g.tokens for g in generated)
    # The model reads a short context built from the prompt's variables, not the prompt text itself.
    return {"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens}


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status == 400 else "not_found_error"
    return JSONResponse(
        status_code=status, content={"error": {"message": message, "type": kind, "param": None, "code": code}}
    )


def _sse(chunks: Iterator[dict]) -> StreamingResponse:
    def events() -> Iterator[str]:
        # A plain iterator: Starlette runs it in its thread pool, so waiting for the next token (produced by
        # the generation thread) never blocks the event loop.
        for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def _chat_chunks(name: str, pieces: Iterator[str]) -> Iterator[dict]:
    envelope = _envelope("chatcmpl", "chat.completion.chunk", name)
    yield {**envelope, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    for piece in pieces:
        yield {**envelope, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
    yield {**envelope, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}


def _completion_chunks(name: str, pieces: Iterator[str]) -> Iterator[dict]:
    envelope = _envelope("cmpl", "text_completion", name)
    for piece in pieces:
        yield {**envelope, "choices": [{"index": 0, "text": piece, "finish_reason": None, "logprobs": None}]}
    yield {**envelope, "choices": [{"index": 0, "text": "", "finish_reason": "stop", "logprobs": None}]}
