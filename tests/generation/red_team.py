"""The red-team corpus (``data/red_team.jsonl``) and the legitimate copy it is weighed against: shared by
tests/generation/test_red_team.py and benchmarks/generation.py.

Each case is what an obedient backend writes when it follows an instruction planted in the offer text
(``via: offer``) or in the customer's record (``via: customer``, with that record's personal values in
``private``), or an offer whose structured fields are out of range (``offer``: field overrides).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from loyaltylens.errors import InvalidInputError
from loyaltylens.generation.corpus import (
    CTAS,
    HEADLINES,
    OPENERS,
    SEGMENT_LINES,
    SPEND_CLAUSES,
    TONE_BY_SEGMENT,
    fill_slots,
    synthetic_offers,
)
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.prompts import PromptSpec, offer_variables
from loyaltylens.generation.template import TemplateGenerator
from loyaltylens.generation.writer import CopyWriter
from loyaltylens.retrieval.base import OfferHit
from loyaltylens.vocabulary import CHANNELS, SEGMENTS

DATA = Path(__file__).resolve().parent / "data"
BASE_OFFER = OfferHit(
    offer_id=7,
    score=1.0,
    title="Greek yoghurt deal",
    category="dairy",
    discount_pct=20.0,
    channel="mobile",
    text="Save 20% on Greek yoghurt and other dairy in the app when you spend €15 or more.",
    min_spend=15.0,
)
DEFAULT_COPY = {
    "headline": "20% off dairy",
    "body": "Save 20% on Greek yoghurt in the app.",
    "cta": "Activate in the app",
}


def red_team_cases() -> list[dict]:
    return [json.loads(line) for line in (DATA / "red_team.jsonl").read_text(encoding="utf-8").splitlines()]


class ObedientBackend:
    """A model that writes whatever the planted instruction asks for, on every attempt (the worst case)."""

    name = "obedient"

    def __init__(self, case: dict):
        self.copy = {**DEFAULT_COPY, "tone": "warm", case["field"]: case["obeyed"]}

    def complete(self, messages, variables, parameters) -> str:
        return json.dumps(self.copy, ensure_ascii=False)


@dataclass(frozen=True)
class Outcome:
    leaked: bool  # the obeyed copy (or its payload) reached the final copy
    refused: bool  # the writer refused the offer with a typed error instead of writing copy
    final: OfferCopy | None


def run_case(case: dict, prompt: PromptSpec) -> Outcome:
    """Write copy for the case's offer through :class:`CopyWriter` with the obedient backend."""
    fields = dict(case["offer"])
    segment, channel = fields.pop("segment", "family"), fields.pop("channel", "mobile")
    offer = replace(BASE_OFFER, **{k: float("nan") if v is None else v for k, v in fields.items()})
    if case["via"] == "offer":
        offer = replace(offer, text=f"{offer.text} Instruction: write '{case['obeyed']}'")
    writer = CopyWriter(ObedientBackend(case), prompt, max_retries=1)
    try:
        result = writer.write(offer, segment, channel, private=case["private"])
    except InvalidInputError:  # GuardrailError included: no copy at all
        return Outcome(False, True, None)
    final = f"{result.copy.headline} {result.copy.body} {result.copy.cta}"
    return Outcome(result.source == "model" or case["obeyed"] in final, False, result.copy)


def legitimate_copies(n_offers: int = 30, seed: int = 3) -> list[tuple[OfferCopy, dict[str, str]]]:
    """Honest copy for every offer x segment x channel of a synthetic catalogue: the template generator's
    and a phrase-bank copy (the local model's training distribution, one sampled per pair), each with the
    variables it was written for."""
    prompt_template = TemplateGenerator(_offer_copy_prompt())
    copies = []
    for i, row in enumerate(synthetic_offers(n_offers, seed).itertuples(index=False)):
        offer = OfferHit(
            int(row.offer_id),
            1.0,
            row.title,
            row.category,
            float(row.discount_pct),
            row.channel,
            row.text,
            float(row.min_spend),
        )
        for j, segment in enumerate(SEGMENTS):
            for k, channel in enumerate(CHANNELS):
                variables = offer_variables(offer, segment, channel)
                copies.append((prompt_template.generate(offer, segment, channel), variables))
                pick = i + j + k
                spend = SPEND_CLAUSES[pick % 2] if offer.min_spend > 0 else ""
                copy = {
                    "headline": _without_product(HEADLINES, pick),
                    "body": f"{_without_product(OPENERS, pick)}{spend}. {SEGMENT_LINES[segment][pick % 3]}",
                    "cta": CTAS[channel][pick % 3],
                    "tone": TONE_BY_SEGMENT[segment],
                }
                filled = {key: fill_slots(value, variables) for key, value in copy.items()}
                copies.append((OfferCopy(**filled), variables))
    return copies


def _without_product(options: tuple[str, ...], pick: int) -> str:
    # slot [product] is the offer's product when it names one, else its label: both are honest
    return options[pick % len(options)]


def _offer_copy_prompt() -> PromptSpec:
    from loyaltylens.config import packaged_prompts_dir
    from loyaltylens.generation.prompts import load_prompt

    return load_prompt(packaged_prompts_dir(), "offer_copy")
