"""The feedback service: a FastAPI app over a :class:`FeedbackStore`, and the web UI as static files.

    POST /v1/offers                         register a generated offer (the decision chain, the simulator)
    POST /v1/feedback                       one rating; 201 new, 200 a retry of the same idempotency key
    GET  /v1/customers/{customer_id}/offers the customer's offers with their rating counts (the UI's list)
    GET  /healthz                           ready when the store answers
    GET  /                                  the web UI (when built: ``make ui``)

Endpoints are plain ``def``: FastAPI runs them in its thread pool, so a store call never blocks the event
loop. A 2xx is sent only after the store committed. Bad input is a 4xx with ``{"error": one line}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyaltylens.errors import ServiceUnavailableError
from loyaltylens.feedback.models import FeedbackAck, FeedbackIn, GeneratedOffer, Id, OfferWithRatings
from loyaltylens.feedback.store import FeedbackStore, IdempotencyConflictError, SQLiteFeedbackStore

JSON = "application/json"
MAX_BODY_BYTES = 64 * 1024  # a rating with the longest copy is ~3 KiB; an offer with its prompt ~11 KiB
PACKAGED_UI_DIR = Path(__file__).resolve().parent / "ui"  # `make ui` builds web/feedback into it
ERROR_RESPONSES = {
    409: {"description": "The idempotency key (or decision id) was used for a different request."},
    413: {"description": "The request body is larger than 64 KiB."},
    503: {"description": "The store is unreachable; nothing was written."},
}


class BodySizeLimit:
    """Answer 413 to a body over ``limit`` bytes, declared or streamed, before the app reads it whole."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            response = JSONResponse({"error": f"request body larger than {self.limit} bytes"}, status_code=413)
            return await response(scope, receive, send)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:  # a chunked body: FastAPI re-raises an HTTPException from the body read
                raise StarletteHTTPException(413, f"request body larger than {self.limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


def validation_message(exc: RequestValidationError) -> dict:
    errors = [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", "")), "type": error["type"]}
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    return {"error": f"{'.'.join(first['loc'])}: {first['msg']}", "detail": errors}


def create_app(store: FeedbackStore, ui_dir: Path | None = None) -> FastAPI:
    """The service over ``store``; the UI is served from ``ui_dir`` (default: the packaged build) if built."""
    app = FastAPI(
        title="LoyaltyLens feedback",
        version="1",
        description="Ratings of generated offer copy: thumbs up/down and 1-5 stars, idempotent writes.",
    )
    app.add_middleware(BodySizeLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_message(exc), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(IdempotencyConflictError)
    async def conflict(request: Request, exc: IdempotencyConflictError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=409)

    @app.exception_handler(ServiceUnavailableError)
    async def unavailable(request: Request, exc: ServiceUnavailableError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=503)

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        store.ping()
        return {"ready": True}

    @app.post(
        "/v1/offers", status_code=201, responses={200: {"description": "A retry; already stored."}, **ERROR_RESPONSES}
    )
    def register_offer(offer: GeneratedOffer) -> JSONResponse:
        created = store.add_offer(offer)
        return JSONResponse({"decision_id": offer.decision_id, "created": created}, status_code=201 if created else 200)

    @app.post(
        "/v1/feedback",
        status_code=201,
        response_model=FeedbackAck,
        responses={200: {"model": FeedbackAck, "description": "A retry; stored once."}, **ERROR_RESPONSES},
    )
    async def record_feedback(feedback: FeedbackIn) -> Response:
        ack = await store.add_feedback_async(feedback)
        return Response(ack.model_dump_json(), status_code=201 if ack.created else 200, media_type=JSON)

    @app.get("/v1/customers/{customer_id}/offers", response_model=list[OfferWithRatings])
    def customer_offers(customer_id: Id, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[OfferWithRatings]:
        return store.offers_for_customer(customer_id, limit)

    ui_dir = ui_dir or PACKAGED_UI_DIR
    if (ui_dir / "index.html").is_file():
        app.mount("/", StaticFiles(directory=ui_dir, html=True), name="ui")
    return app


def openapi_document() -> dict:
    """The service's OpenAPI document (committed as docs/feedback-openapi.json; a test keeps them equal)."""
    with SQLiteFeedbackStore(Path(":memory:")) as store:
        return create_app(store).openapi()
