"""OpenAI-compatible routes for the generator, on the KServe ``ModelServer``'s own FastAPI app.

KServe 0.21 ships ``kserve.protocol.rest.openai`` (``OpenAIModel``, ``OpenAIChatAdapterModel`` and the
``/openai/v1`` endpoints), but its request and response types are vLLM's
(``kserve/protocol/rest/openai/types/__init__.py`` imports ``vllm.entrypoints.openai...``): without vLLM the
package does not import and ``ModelServer`` registers no OpenAI routes. vLLM is not installed here (and has
no CPU wheel for this machine), so this module serves the same paths itself, with the official ``openai``
package's response types:

  GET  /openai/v1/models, /openai/v1/models/{id}
  POST /openai/v1/completions          prompt: a string or a list of strings
  POST /openai/v1/chat/completions     any messages; the model conditions on the product's rendered offer
                                       prompt when one of the user messages is one, on the fields it finds
                                       in the user text otherwise (see :mod:`serving.generator.model`)

Honoured: ``max_tokens`` / ``max_completion_tokens`` (``finish_reason: "length"`` when the limit cuts the
copy), ``n``, ``temperature``, ``top_p`` (0 = greedy), ``stop``, ``seed``, ``response_format``
(``text``, ``json_object``: the model always answers one JSON object; ``json_schema``: each answer is checked
against the schema) and ``stream`` with ``stream_options.include_usage`` (server-sent events, then
``data: [DONE]``). Other OpenAI knobs (penalties, ``logit_bias``, ``user``, ...) are accepted and ignored.

Every client error is HTTP 400 / 404 / 413 with OpenAI's error body
``{"error": {"message", "type", "param", "code"}}``, and the OpenAPI document lists exactly those. The body
is read, parsed and validated in a worker thread, never on the event loop.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, Literal

import anyio.from_thread
import jsonschema
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from kserve.errors import InvalidInput
from openai.types import Completion as CompletionBody
from openai.types import CompletionChoice, CompletionUsage
from openai.types import Model as ModelCard
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice as ChatChoice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from loyaltylens.generation.local_model import Completion, Sampling
from serving.generator.model import DEFAULT_TEMPERATURE, MAX_TEMPERATURE, GeneratorModel

PREFIX = "/openai/v1"
MAX_BODY_BYTES = 1 << 20  # every route of the server; a full n=64 request is a few kilobytes
MAX_STOP_SEQUENCES = 4


# --- requests --------------------------------------------------------------------------------------------
class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # name, tool_calls, ...: nothing the copy model can use

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(part.text for part in self.content)
        return self.content or ""


class JSONSchemaFormat(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


Stop = str | Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=MAX_STOP_SEQUENCES)] | None


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    temperature: float | None = Field(default=None, ge=0, le=MAX_TEMPERATURE)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int = Field(default=1, ge=1, le=16)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: Stop = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None

    def sampling(self, max_tokens: int | None) -> Sampling:
        temperature = DEFAULT_TEMPERATURE if self.temperature is None else self.temperature
        top_p = 0.95 if self.top_p is None else self.top_p
        if top_p == 0:  # only the single most likely token is left: greedy
            temperature, top_p = 0.0, 1.0
        return Sampling(temperature, top_p, max_tokens, self.seed)

    @property
    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        return [s for s in ([self.stop] if isinstance(self.stop, str) else self.stop) if s]


class ChatCompletionRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    response_format: ResponseFormat | None = None

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def texts(self) -> list[str]:
        """The user messages' text (or every message's, when there is no user message)."""
        users = [m.text for m in self.messages if m.role == "user"]
        return users or [m.text for m in self.messages]


class CompletionRequest(_Request):
    prompt: str | Annotated[list[str], Field(min_length=1)]  # the bound inside the branch: documented as minItems


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    error: ErrorDetail


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.param, self.code = status, param, code


# --- routes ----------------------------------------------------------------------------------------------
def add_openai_routes(app: FastAPI, model: GeneratorModel) -> None:
    """Register ``/openai/v1/{models,completions,chat/completions}`` for ``model`` on ``app``, the body size
    limit on every route of ``app``, and the request and error schemas in its OpenAPI document."""

    async def list_models() -> dict:
        return {"object": "list", "data": [_model_card(model)]}

    @_openai_errors
    async def retrieve_model(request: Request):
        _check_model(model, request.path_params["model_id"])
        return _model_card(model)

    @_openai_errors
    async def completions(request: Request):
        body, variables = await _read(request, CompletionRequest, model, _completion_texts)
        sampling = body.sampling(body.max_tokens)
        if body.stream:
            return _sse(_completion_events(model, body, variables, sampling))
        generated = await model.generate([v for v in variables for _ in range(body.n)], sampling)
        choices = [
            CompletionChoice(index=i, text=text, finish_reason=finish, logprobs=None)
            for i, (text, finish) in enumerate(_finish(g, body.stops) for g in generated)
        ]
        return CompletionBody(
            **_envelope("cmpl", model.name), object="text_completion", choices=choices, usage=_usage(generated)
        ).model_dump(mode="json")

    @_openai_errors
    async def chat_completions(request: Request):
        body, (variables,) = await _read(request, ChatCompletionRequest, model, lambda b: [b.texts()])
        sampling = body.sampling(body.token_limit)
        if body.stream:
            return _sse(_chat_events(model, body, variables, sampling))
        generated = await model.generate([variables] * body.n, sampling)
        choices = []
        for i, completion in enumerate(generated):
            text, finish = _finish(completion, body.stops)
            _check_format(body.response_format, text, finish)
            message = ChatCompletionMessage(role="assistant", content=text)
            choices.append(ChatChoice(index=i, message=message, finish_reason=finish, logprobs=None))
        return ChatCompletion(
            **_envelope("chatcmpl", model.name), object="chat.completion", choices=choices, usage=_usage(generated)
        ).model_dump(mode="json")

    errors = {
        400: {"model": ErrorBody, "description": "Invalid request"},
        404: {"model": ErrorBody, "description": "Unknown model"},
        413: {"model": ErrorBody, "description": f"Body larger than {MAX_BODY_BYTES} bytes"},
    }
    schemas: dict[str, dict] = {}
    app.add_api_route(f"{PREFIX}/models", list_models, methods=["GET"], tags=["OpenAI"])
    app.add_api_route(
        f"{PREFIX}/models/{{model_id}}",
        retrieve_model,
        methods=["GET"],
        tags=["OpenAI"],
        responses={200: {"model": ModelCard}, 404: errors[404]},
        # documented by hand: a typed path parameter would add FastAPI's 422, which this route never answers
        openapi_extra={
            "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}]
        },
    )
    for path, handler, request_model, answer, chunk in (
        ("completions", completions, CompletionRequest, CompletionBody, CompletionBody),
        ("chat/completions", chat_completions, ChatCompletionRequest, ChatCompletion, ChatCompletionChunk),
    ):
        app.add_api_route(
            f"{PREFIX}/{path}",
            handler,
            methods=["POST"],
            tags=["OpenAI"],
            responses={
                200: {
                    "model": answer,
                    "content": {"text/event-stream": {"schema": {"type": "string", "description": chunk.__name__}}},
                },
                **errors,
            },
            openapi_extra={"requestBody": _request_body(request_model, schemas)},
        )
    _publish_schemas(app, schemas)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)


def _completion_texts(body: CompletionRequest) -> list[list[str]]:
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    return [[p] for p in prompts]


async def _read(request: Request, kind: type[_Request], model: GeneratorModel, texts: Callable) -> tuple[Any, list]:
    """The validated request body and the conditioning variables of each of its prompts."""
    raw = await request.body()

    def parse() -> tuple[Any, list]:
        try:
            body = kind.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            param = ".".join(str(part) for part in first["loc"]) or None
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
            raise OpenAIError(400, f"invalid request: {problems}", param, "invalid_request") from None
        _check_model(model, body.model)
        prompts = texts(body)
        model.check_count(len(prompts) * body.n)
        return body, [model.variables(p) for p in prompts]

    return await run_in_threadpool(parse)


def _openai_errors(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Answer client errors of an OpenAI route with OpenAI's error body."""

    @functools.wraps(handler)  # keeps the handler's parameters in the signature FastAPI reads
    async def answer(*args, **kwargs):
        try:
            return await handler(*args, **kwargs)
        except InvalidInput as exc:
            return _error(400, str(exc))
        except OpenAIError as exc:
            return _error(exc.status, str(exc), exc.param, exc.code)

    return answer


def _check_model(model: GeneratorModel, requested: str) -> None:
    if requested != model.name:
        raise OpenAIError(
            404, f"model '{requested}' is not served here; available: ['{model.name}']", "model", "model_not_found"
        )


def _check_format(response_format: ResponseFormat | None, text: str, finish: str) -> None:
    """A ``json_schema`` answer must match the schema (a copy cut by ``max_tokens`` is returned as is)."""
    if response_format is None or response_format.type != "json_schema" or finish == "length":
        return
    schema = response_format.json_schema.schema_ if response_format.json_schema else {}
    try:
        jsonschema.validate(json.loads(text), schema)
    except jsonschema.SchemaError as exc:
        raise OpenAIError(
            400,
            f"response_format.json_schema is not a valid JSON schema: {exc.message}",
            "response_format",
            "invalid_json_schema",
        ) from None
    except (ValueError, jsonschema.ValidationError) as exc:
        raise OpenAIError(
            400,
            "this model writes offer copy JSON ({headline, body, cta, tone}) and its answer does not match the "
            f"requested schema: {getattr(exc, 'message', exc)}",
            "response_format",
            "unsupported_json_schema",
        ) from None


def _finish(completion: Completion, stops: list[str]) -> tuple[str, str]:
    """The text cut at the first stop sequence, and the finish reason."""
    cut = _first_stop(completion.text, stops)
    if cut is not None:
        return completion.text[:cut], "stop"
    return completion.text, completion.finish_reason


def _first_stop(text: str, stops: list[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def _model_card(model: GeneratorModel) -> dict:
    return ModelCard(id=model.name, object="model", created=0, owned_by="loyaltylens").model_dump(mode="json")


def _envelope(prefix: str, name: str) -> dict:
    return {"id": f"{prefix}-{uuid.uuid4().hex}", "created": int(time.time()), "model": name}


def _usage(generated: list[Completion]) -> CompletionUsage:
    # The prompt tokens are those of the context the model reads, not of the request text.
    completion, prompt = sum(g.tokens for g in generated), sum(g.prompt_tokens for g in generated)
    return CompletionUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    kind = {400: "invalid_request_error", 404: "not_found_error", 413: "invalid_request_error"}[status]
    body = ErrorBody(error=ErrorDetail(message=message, type=kind, param=param, code=code))
    return JSONResponse(status_code=status, content=body.model_dump())


# --- streaming -------------------------------------------------------------------------------------------
def _sse(events: Iterator[dict]) -> StreamingResponse:
    def lines() -> Iterator[str]:
        # A plain iterator: Starlette runs it in its thread pool, so waiting for the next token (produced by
        # the generation thread) never blocks the event loop.
        for event in events:
            yield f"data: {json.dumps(event)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream")


def _until_stop(pieces: Iterator[str], stops: list[str]):
    """The pieces up to the first stop sequence (held back while one might be starting); True if stopped."""
    text, sent = "", 0
    hold = max((len(s) for s in stops), default=1) - 1
    for piece in pieces:
        text += piece
        cut = _first_stop(text, stops)
        if cut is not None:
            if cut > sent:
                yield text[sent:cut]
            return True
        if len(text) - hold > sent:
            yield text[sent : len(text) - hold]
            sent = len(text) - hold
    if len(text) > sent:
        yield text[sent:]
    return False


def _stream_choices(model: GeneratorModel, body: _Request, prompts: list[dict], sampling: Sampling):
    """(choice index, text piece or None at the choice's end, finish reason, completion) for every choice.
    A single choice is streamed token by token; several are generated as one batch and sent whole."""
    if len(prompts) * body.n == 1:
        stream = model.stream(prompts[0], sampling)
        pieces = _until_stop(iter(stream), body.stops)
        while True:
            try:
                yield 0, next(pieces), None, None
            except StopIteration as end:
                stopped = end.value
                break
        for _ in stream:  # after a stop sequence: let generation finish, for its token count
            pass
        yield 0, None, "stop" if stopped else stream.completion.finish_reason, stream.completion
        return
    generated = anyio.from_thread.run(model.generate, [v for v in prompts for _ in range(body.n)], sampling)
    for i, completion in enumerate(generated):
        text, finish = _finish(completion, body.stops)
        yield i, text, None, None
        yield i, None, finish, completion


def _chat_events(model: GeneratorModel, body: ChatCompletionRequest, variables: dict, sampling: Sampling):
    envelope = {**_envelope("chatcmpl", model.name), "object": "chat.completion.chunk"}

    def chunk(choices: list[ChunkChoice], usage: CompletionUsage | None = None) -> dict:
        return ChatCompletionChunk(**envelope, choices=choices, usage=usage).model_dump(mode="json", exclude_none=True)

    for i in range(body.n):
        yield chunk([ChunkChoice(index=i, delta=ChoiceDelta(role="assistant", content=""), finish_reason=None)])
    done = []
    for i, piece, finish, completion in _stream_choices(model, body, [variables], sampling):
        if piece is not None:
            yield chunk([ChunkChoice(index=i, delta=ChoiceDelta(content=piece), finish_reason=None)])
        else:
            done.append(completion)
            yield chunk([ChunkChoice(index=i, delta=ChoiceDelta(), finish_reason=finish)])
    if body.stream_options and body.stream_options.include_usage:
        yield chunk([], _usage(done))


def _completion_events(model: GeneratorModel, body: CompletionRequest, prompts: list[dict], sampling: Sampling):
    envelope = {**_envelope("cmpl", model.name), "object": "text_completion"}

    def chunk(choices: list[CompletionChoice], usage: CompletionUsage | None = None) -> dict:
        return CompletionBody(**envelope, choices=choices, usage=usage).model_dump(mode="json", exclude_none=True)

    done = []
    for i, piece, finish, completion in _stream_choices(model, body, prompts, sampling):
        if piece is not None:
            yield chunk([CompletionChoice(index=i, text=piece, finish_reason="stop", logprobs=None)])
        else:
            done.append(completion)
            yield chunk([CompletionChoice(index=i, text="", finish_reason=finish, logprobs=None)])
    if body.stream_options and body.stream_options.include_usage:
        yield chunk([], _usage(done))


# --- OpenAPI and body limit ------------------------------------------------------------------------------
def _request_body(request_model: type[BaseModel], schemas: dict[str, dict]) -> dict:
    """The OpenAPI ``requestBody`` of a route that reads its body itself (so FastAPI answers no 422)."""
    schema = request_model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    schemas.update(schema.pop("$defs", {}))
    schemas[request_model.__name__] = schema
    ref = {"$ref": f"#/components/schemas/{request_model.__name__}"}
    return {"required": True, "content": {"application/json": {"schema": ref}}}


def _publish_schemas(app: FastAPI, schemas: dict[str, dict]) -> None:
    build = app.openapi

    @functools.wraps(build)
    def openapi() -> dict:
        document = build()
        document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
        return document

    app.openapi = openapi


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` (declared or streamed) is answered 413."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _error(413, f"request body larger than {self.max_bytes} bytes", None, "request_too_large")(
            scope, receive, send
        )


class _TooLarge(Exception):
    pass
