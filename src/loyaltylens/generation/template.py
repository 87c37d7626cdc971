"""Deterministic template generator: the embedded default backend until an LLM backend is configured."""

from __future__ import annotations

from loyaltylens.errors import InvalidInputError
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.prompts import PromptSpec, offer_variables
from loyaltylens.retrieval.base import OfferHit


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
        values = offer_variables(offer, segment, channel)
        self.prompt.check_variables(values)
        fill = {
            **values,
            "category_label": offer.category.replace("_", " "),
            "segment_line": self._entry("segment_line_by_segment", segment),
        }
        return OfferCopy(
            headline=self.template["headline"].format(**fill)[:60],
            body=self.template["body"].format(**fill)[:280],
            cta=self._entry("cta_by_channel", channel),
            tone=self._entry("tone_by_segment", segment),
        )

    def generate_from_fields(self, offer: OfferHit, segment: str, channel: str) -> OfferCopy:
        """Copy from the offer's discount, category and minimum spend only, never its free text: the
        fallback for offers whose text the guardrails reject."""
        category = offer.category.replace("_", " ")
        spend = f" when you spend €{offer.min_spend:g} or more" if offer.min_spend > 0 else ""
        return OfferCopy(
            headline=self.template["headline"].format(discount_pct=f"{offer.discount_pct:g}", category_label=category)[
                :60
            ],
            body=f"{offer.discount_pct:g}% off {category}{spend}. {self._entry('segment_line_by_segment', segment)}",
            cta=self._entry("cta_by_channel", channel),
            tone=self._entry("tone_by_segment", segment),
        )

    def _entry(self, table: str, key: str) -> str:
        """``template[table][key]``; an unknown segment or channel is an ``InvalidInputError``, not a KeyError."""
        entries = self.template.get(table, {})
        if key not in entries:
            raise InvalidInputError(f"prompt {self.version} has no {table} entry for {key!r}; known: {sorted(entries)}")
        return entries[key]
