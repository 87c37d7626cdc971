"""Deterministic template generator: the embedded default backend until an LLM backend is configured."""

from __future__ import annotations

from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.prompts import PromptSpec
from loyaltylens.retrieval.exact import OfferHit


class TemplateGenerator:
    """Renders the prompt's ``template`` section; same inputs, same copy."""

    name = "template"

    def __init__(self, prompt: PromptSpec):
        self.prompt = prompt
        self.template = prompt.template

    @property
    def version(self) -> str:
        return f"{self.prompt.name}@{self.prompt.version}"

    def generate(self, offer: OfferHit, segment: str, channel: str) -> OfferCopy:
        values = {
            "segment": segment,
            "channel": channel,
            "offer_title": offer.title,
            "offer_text": offer.text,
            "category": offer.category,
            "discount_pct": f"{offer.discount_pct:g}",
            "min_spend": f"{offer.min_spend:g}",
        }
        self.prompt.check_variables(values)
        fill = {
            **values,
            "category_label": offer.category.replace("_", " "),
            "segment_line": self.template["segment_line_by_segment"][segment],
        }
        return OfferCopy(
            headline=self.template["headline"].format(**fill)[:60],
            body=self.template["body"].format(**fill)[:280],
            cta=self.template["cta_by_channel"][channel],
            tone=self.template["tone_by_segment"][segment],
        )
