"""Simulated customers rating offer copy, so the feedback loop runs end to end without people.

They like copy that is faithful to the offer (no number or product it does not have), relevant (names the
offer's category or one of its products) and on-brand (no banned claim, a tone that suits the segment, no
shouting), with noise: utility = base + weights . [faithful, relevant, on-brand] + N(0, noise), rounded
to 1-5 stars; the thumb follows the stars (up at 4+, down at 2-, a coin flip at 3). Each simulated rating
gives stars, a thumb, or both. The checks are the generation guardrails': the audience judges what the
guardrails judge, not the generator's internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from loyaltylens.data.offers import CATEGORY_COPY
from loyaltylens.feedback.models import FeedbackIn, GeneratedOffer
from loyaltylens.generation.guardrails import check_banned_claims, check_faithfulness, check_tone


@dataclass(frozen=True)
class CopyToRate:
    """A generated offer as the customer sees it: the copy, the offer's facts (the prompt variables:
    segment, channel, offer_title, offer_text, category, discount_pct, min_spend) and the declared tone."""

    offer: GeneratedOffer
    variables: dict[str, str]
    tone: str


@dataclass(frozen=True)
class AudienceTaste:
    base: float = 1.0
    faithful: float = 1.8
    relevant: float = 0.8
    on_brand: float = 0.9
    noise: float = 0.6
    p_stars: float = 0.7  # a rating carries stars with this probability, a thumb with p_thumb (at least one)
    p_thumb: float = 0.7


def copy_qualities(item: CopyToRate) -> dict[str, bool]:
    text, variables = item.offer.copy_text, item.variables
    label, products = CATEGORY_COPY.get(variables["category"], (variables["category"].replace("_", " "), ()))
    lowered = text.lower()
    return {
        "faithful": not check_faithfulness(text, variables),
        "relevant": any(name.lower() in lowered for name in (label, *products)),
        "on_brand": not check_banned_claims(text) and not check_tone(item.tone, variables["segment"], text),
    }


def simulate_ratings(
    items: Sequence[CopyToRate], rated_at: datetime, rng: np.random.Generator, taste: AudienceTaste | None = None
) -> list[FeedbackIn]:
    """One rating per item, as the customer would send it (idempotency key: the decision id + ``rated_at``)."""
    taste = taste or AudienceTaste()
    ratings = []
    for item in items:
        q = copy_qualities(item)
        utility = (
            taste.base
            + taste.faithful * q["faithful"]
            + taste.relevant * q["relevant"]
            + taste.on_brand * q["on_brand"]
            + rng.normal(0.0, taste.noise)
        )
        stars = int(np.clip(np.rint(utility), 1, 5))
        thumb = "up" if stars >= 4 else "down" if stars <= 2 else str(rng.choice(["up", "down"]))
        give_stars = rng.random() < taste.p_stars
        give_thumb = rng.random() < taste.p_thumb or not give_stars
        offer = item.offer
        ratings.append(
            FeedbackIn(
                idempotency_key=f"sim-{offer.decision_id}-{rated_at:%Y%m%dT%H%M%S}",
                decision_id=offer.decision_id,
                offer_id=offer.offer_id,
                customer_id=offer.customer_id,
                prompt_version=offer.prompt_version,
                generator_version=offer.generator_version,
                copy_text=offer.copy_text,
                stars=stars if give_stars else None,
                thumb=thumb if give_thumb else None,
                rated_at=rated_at,
            )
        )
    return ratings
