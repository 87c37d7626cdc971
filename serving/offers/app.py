"""The offer API: a FastAPI app over :class:`loyaltylens.decision.offers.OfferService`.

    POST /v1/offers   decisions (offers, expected margin, copy, versions, stage latency) for 1..N customers
    GET  /healthz     the process is up (the chain is built on the first request)
    GET  /metrics     Prometheus: per-stage latency, fallbacks, decisions, expected margin sent

The endpoint is a plain ``def``: FastAPI runs it in its thread pool, so the chain's CPU work (feature lookup,
scoring, embedding the query, copy) never runs on the event loop. The request id (``X-Request-ID``, or a new one)
is set in a context variable before the endpoint runs, so it follows the request into that thread and onto every
stage's log line; it is echoed in the response header. Errors are JSON ``{"error": one line}``: 404 unknown
customer, 413 body too large, 422 invalid request, 503 a required service (the predictor, the registry) down.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyaltylens.decision.offers import LazyService, OfferService, OffersRequest, OffersResponse
from loyaltylens.decision.telemetry import REQUEST_ID, REQUEST_ID_HEADER, OfferMetrics, request_id_from
from loyaltylens.errors import InvalidInputError, ServiceUnavailableError, UnknownCustomerError
from loyaltylens.feedback.api import BodySizeLimit, validation_message

MAX_BODY_BYTES = 256 * 1024  # 10,000 ids of 19 digits with separators is ~200 KiB
ERROR_RESPONSES = {
    404: {"description": "Unknown customer id(s); nothing was decided."},
    413: {"description": "The request body is larger than 256 KiB."},
    422: {"description": "Invalid request (also: more customers than the limit)."},
    503: {"description": "The predictor (or the model registry) is unreachable; nothing was decided."},
}


class RequestIdMiddleware:
    """Set :data:`REQUEST_ID` for the request (from ``X-Request-ID`` when it is a sane token) and echo it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode())
        request_id = request_id_from(header.decode("latin-1") if header else None)
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def create_app(service: OfferService | LazyService, metrics: OfferMetrics) -> FastAPI:
    """The API over ``service`` (a :class:`LazyService` in the server: built on the first request, rebuilt after a
    promotion) whose decisions are counted in ``metrics``."""
    app = FastAPI(
        title="LoyaltyLens offers",
        version="1",
        description="Which offer, if any, to send each customer (by expected incremental margin), with its copy.",
    )
    app.add_middleware(BodySizeLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(RequestIdMiddleware)

    def error(status: int, message: str, **fields) -> JSONResponse:
        return JSONResponse({"error": message, "request_id": REQUEST_ID.get(), **fields}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({**validation_message(exc), "request_id": REQUEST_ID.get()}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(UnknownCustomerError)
    async def unknown_customer(request: Request, exc: UnknownCustomerError) -> JSONResponse:
        return error(404, str(exc), customer_ids=exc.customer_ids[:100])

    @app.exception_handler(InvalidInputError)
    async def invalid_input(request: Request, exc: InvalidInputError) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(ServiceUnavailableError)
    async def unavailable(request: Request, exc: ServiceUnavailableError) -> JSONResponse:
        metrics.unavailable.labels(type(exc).__name__).inc()
        return error(503, str(exc))

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"alive": True}

    @app.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post("/v1/offers", response_model=OffersResponse, responses=ERROR_RESPONSES)
    def offers(request: OffersRequest) -> OffersResponse:
        return service.decide(request.customer_ids, REQUEST_ID.get())

    return app


def openapi_document() -> dict:
    """The API's OpenAPI document (committed as docs/offers-openapi.json; a test keeps them equal)."""

    def no_service(*_) -> OfferService:
        raise AssertionError("the OpenAPI document needs no service")

    return create_app(LazyService(no_service, no_service), OfferMetrics()).openapi()
