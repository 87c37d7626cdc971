"""Structured offer copy: range-check the offer, ask the backend, parse, validate, check guardrails, retry
with the error fed back (bounded), and fall back to deterministic safe copy. Every attempt is logged and
returned. An offer whose fields are out of range, or for which not even the fallback passes the guardrails,
is a :class:`~loyaltylens.generation.guardrails.GuardrailError`: unsafe copy is never returned.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import LoyaltyLensError
from loyaltylens.generation.backends import CopyBackend, backend_from_settings
from loyaltylens.generation.guardrails import GuardrailError, check_copy, check_offer_fields
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.prompts import PromptSpec, offer_variables
from loyaltylens.generation.registry import PromptRegistry
from loyaltylens.generation.template import TemplateGenerator
from loyaltylens.retrieval.base import OfferHit

logger = logging.getLogger(__name__)

PROMPT_NAME = "offer_copy"


class CopyRejected(LoyaltyLensError):
    """One attempt's output was not valid, safe OfferCopy; the message says why (and is fed back)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # parse | schema | guardrail | backend


@dataclass(frozen=True)
class Attempt:
    raw: str
    error: str | None  # None: accepted
    kind: str | None = None


@dataclass(frozen=True)
class CopyResult:
    copy: OfferCopy
    source: Literal["model", "fallback"]
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def valid_json_first_try(self) -> bool:
        return bool(self.attempts) and self.attempts[0].kind not in ("parse", "schema", "backend")


def parse_copy(raw: str) -> OfferCopy:
    """The OfferCopy in a model answer (the first ``{...}`` span, so chatty wrappers are tolerated)."""
    # first "{" to last "}" by plain search: a backtracking pattern would be quadratic on hostile output
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end < start:
        raise CopyRejected("parse", "the answer contains no JSON object")
    try:
        data = json.loads(raw[start : end + 1])
    except json.JSONDecodeError as exc:
        raise CopyRejected("parse", f"invalid JSON: {exc}") from None
    try:
        return OfferCopy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'copy'}: {e['msg']}" for e in exc.errors())
        raise CopyRejected("schema", f"does not match OfferCopy: {problems}") from None


class CopyWriter:
    """Offer copy from ``backend`` under ``prompt``, with at most ``max_retries`` re-asks, then the fallback."""

    def __init__(self, backend: CopyBackend, prompt: PromptSpec, max_retries: int):
        prompt.check_pipeline_fit()
        self.backend = backend
        self.prompt = prompt
        self.max_retries = max_retries
        self.fallback = TemplateGenerator(prompt)

    @property
    def version(self) -> str:
        return f"{self.backend.name}:{self.prompt.ref}"

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> CopyWriter:
        """The configured backend under the registry's active ``offer_copy`` prompt."""
        settings = settings or get_settings()
        prompt = PromptRegistry.from_settings(settings).active(PROMPT_NAME)
        return cls(backend_from_settings(settings), prompt, settings.generation_max_retries)

    def generate(self, offer: OfferHit, segment: str, channel: str) -> OfferCopy:
        """Same signature as ``TemplateGenerator.generate``: a drop-in for run_for_customer."""
        return self.write(offer, segment, channel).copy

    def write(self, offer: OfferHit, segment: str, channel: str, private: Sequence[str] = ()) -> CopyResult:
        """Copy for ``offer`` to a customer of ``segment`` on ``channel``; ``private``: the customer record's
        personal values (name, address, ...), which the copy must never repeat.

        Raises:
            GuardrailError: the offer's fields are out of range, or no copy (not even the fallback) is safe.
        """
        variables = offer_variables(offer, segment, channel)
        check_offer_fields(variables)
        messages = self.prompt.render(variables)
        attempts: list[Attempt] = []
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self.max_retries + 1),
                retry=retry_if_exception_type(CopyRejected),
            ):
                with attempt:
                    copy = self._attempt(messages, variables, private, attempts)
        except RetryError:
            logger.warning(
                "offer %s: %d attempts rejected (%s); using the safe fallback",
                offer.offer_id,
                len(attempts),
                attempts[-1].error,
            )
            return CopyResult(self._fallback(offer, segment, channel, variables, private), "fallback", attempts)
        return CopyResult(copy, "model", attempts)

    def _attempt(
        self, messages: list[dict], variables: dict[str, str], private: Sequence[str], attempts: list[Attempt]
    ) -> OfferCopy:
        raw = ""
        try:
            try:
                raw = self.backend.complete(messages, variables, self.prompt.parameters)
            except LoyaltyLensError as exc:
                raise CopyRejected("backend", str(exc)) from exc
            copy = parse_copy(raw)
            violations = check_copy(copy, variables, private)
            if violations:
                raise CopyRejected("guardrail", "guardrails: " + "; ".join(map(str, violations)))
        except CopyRejected as exc:
            attempts.append(Attempt(raw, str(exc), exc.kind))
            logger.info("attempt %d rejected (%s): %s", len(attempts), exc.kind, exc)
            # The next attempt sees what was wrong (backends that only read the variables resample).
            messages.extend(
                [
                    {"role": "assistant", "content": raw},
                    {"role": "user", "content": f"That answer was rejected: {exc}. Answer again with the JSON only."},
                ]
            )
            raise
        attempts.append(Attempt(raw, None))
        logger.info("attempt %d accepted", len(attempts))
        return copy

    def _fallback(
        self, offer: OfferHit, segment: str, channel: str, variables: dict[str, str], private: Sequence[str]
    ) -> OfferCopy:
        """The template copy; if even that fails the guardrails (hostile offer text), copy from the
        offer's structured fields only; if that fails too, :class:`GuardrailError`."""
        copy = self.fallback.generate(offer, segment, channel)
        if not check_copy(copy, variables, private):
            return copy
        copy = self.fallback.generate_from_fields(offer, segment, channel)
        violations = check_copy(copy, variables, private)
        if violations:
            raise GuardrailError(violations)
        return copy
