"""A client of the feedback service: register offers, send ratings (retried safely: same idempotency key),
and the concurrent writer the durability tests and the benchmark drive the service with."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from loyaltylens.errors import InvalidInputError, ServiceUnavailableError
from loyaltylens.feedback.models import FeedbackAck, FeedbackIn, GeneratedOffer


class FeedbackClient:
    """One keep-alive connection to the service. ``retries`` re-sends after a transport error or a 5xx:
    safe because the idempotency key makes a repeated rating a no-op."""

    def __init__(self, base_url: str, timeout: float = 10.0, retries: int = 2):
        self._http = httpx.Client(base_url=base_url, timeout=timeout)
        self._send = retry(
            retry=retry_if_exception_type(ServiceUnavailableError),
            stop=stop_after_attempt(retries + 1),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            reraise=True,
        )(self._post)

    def _post(self, path: str, body: str) -> dict:
        try:
            response = self._http.post(path, content=body, headers={"content-type": "application/json"})
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(f"feedback service unreachable ({exc!r})") from exc
        if response.status_code >= 500:
            raise ServiceUnavailableError(f"feedback service error {response.status_code}: {response.text[:200]}")
        if response.status_code >= 400:
            raise InvalidInputError(f"feedback service refused ({response.status_code}): {response.text[:200]}")
        return response.json()

    def register(self, offer: GeneratedOffer) -> bool:
        return self._send("/v1/offers", offer.model_dump_json())["created"]

    def rate(self, feedback: FeedbackIn) -> FeedbackAck:
        return FeedbackAck(**self._send("/v1/feedback", feedback.model_dump_json()))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FeedbackClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass
class WriterResult:
    """What one writer saw: the keys acknowledged (committed), per-write latencies, and the error that
    stopped it (None when all its writes were acknowledged)."""

    acknowledged: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    error: Exception | None = None


def write_concurrently(
    base_url: str, streams: Sequence[Sequence[FeedbackIn]], retries: int = 0, stop: threading.Event | None = None
) -> list[WriterResult]:
    """One thread and connection per stream, all writing at once; each stops at its first failure (or
    when ``stop`` is set). Returns once every writer has finished."""
    results = [WriterResult() for _ in streams]

    def write(stream: Sequence[FeedbackIn], result: WriterResult) -> None:
        with FeedbackClient(base_url, retries=retries) as client:
            for feedback in stream:
                if stop is not None and stop.is_set():
                    return
                started = time.perf_counter()
                try:
                    client.rate(feedback)
                except (ServiceUnavailableError, InvalidInputError) as exc:
                    result.error = exc
                    return
                result.latencies_s.append(time.perf_counter() - started)
                result.acknowledged.append(feedback.idempotency_key)

    threads = [threading.Thread(target=write, args=pair) for pair in zip(streams, results, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
