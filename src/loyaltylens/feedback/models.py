"""What the feedback service accepts and returns: a generated offer, and one rating of it.

Every field is bounded (length, range, pattern) so the service rejects oversized or malformed input with a
422 before it reaches the store; the patterns are anchored character classes (no backtracking).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# Idempotency keys, decision ids and versions: a UUID, a ULID, "v3", "loyaltylens-generator/7"...
TOKEN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$"
MAX_TOKEN_CHARS = 128
# Offer copy is at most ~400 characters (OfferCopy's headline + body + cta); prompts are longer.
MAX_COPY_CHARS = 2000
MAX_PROMPT_CHARS = 8000

Token = Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS, pattern=TOKEN_PATTERN)]
Id = Annotated[int, Field(ge=0, le=2**53 - 1)]  # JSON-safe integers


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a timezone (e.g. 2026-12-02T19:40:00Z)")
    return value.astimezone(UTC)


Timestamp = Annotated[datetime, AfterValidator(_aware_utc)]
Copy = Annotated[str, Field(min_length=1, max_length=MAX_COPY_CHARS)]


class GeneratedOffer(BaseModel):
    """One offer the decision chain sent, with the copy it wrote and the prompt the generator saw."""

    model_config = ConfigDict(extra="forbid")

    decision_id: Token
    offer_id: Id
    customer_id: Id
    prompt_version: Token
    generator_version: Token
    prompt: Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS)] = Field(
        description="The user message the generator answered (the preference exports' prompt)."
    )
    copy_text: Copy
    created_at: Timestamp


class FeedbackIn(BaseModel):
    """One rating of one generated offer: thumbs up/down, 1-5 stars, or both.

    ``idempotency_key`` makes retries safe: the same key with the same rating is stored once; the same key
    with a different rating is a conflict (409).
    """

    model_config = ConfigDict(extra="forbid")

    idempotency_key: Token
    decision_id: Token
    offer_id: Id
    customer_id: Id
    prompt_version: Token
    generator_version: Token
    copy_text: Copy
    thumb: Literal["up", "down"] | None = None
    stars: Annotated[int, Field(ge=1, le=5)] | None = None
    rated_at: Timestamp = Field(description="When the customer rated (ISO 8601 with a timezone).")

    @model_validator(mode="after")
    def _has_a_rating(self) -> FeedbackIn:
        if self.thumb is None and self.stars is None:
            raise ValueError("give a rating: thumb ('up' or 'down'), stars (1-5), or both")
        return self


class FeedbackRecord(FeedbackIn):
    """A stored rating: the request plus the store's id and the time it was committed."""

    id: int
    received_at: datetime


class FeedbackAck(BaseModel):
    """The answer to a write: it is committed once this is sent. ``created`` is false for a retry."""

    id: int
    idempotency_key: str
    created: bool


class OfferWithRatings(GeneratedOffer):
    """A generated offer and the ratings it has had so far (the web UI's list)."""

    thumbs_up: int = 0
    thumbs_down: int = 0
    mean_stars: float | None = None
    ratings: int = 0
