"""OfferCopy: the structured output every generator must produce, with its length and tone limits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Tone = Literal["friendly", "refined", "warm", "professional"]


class OfferCopy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    headline: str = Field(min_length=3, max_length=60)
    body: str = Field(min_length=10, max_length=280)
    cta: str = Field(min_length=2, max_length=40)
    tone: Tone
