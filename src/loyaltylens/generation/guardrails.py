"""Guardrails on generated copy: faithful to the offer, no banned claims, an allowed tone, no PII, and
nothing that an instruction hidden in the offer or customer data could have put there.

Each check returns :class:`Violation`s (empty = pass). Faithfulness is exact: every number in the copy
(percentages, prices, dates, anything with digits) must occur in the offer's own fields, and every product
or category name the catalogue knows must belong to this offer. Injection resistance has two halves:
prompts render offer and customer fields as data (:meth:`PromptSpec.render`), and this module rejects copy
carrying what injected instructions ask for (links, contact details, codes, instructions, markup).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loyaltylens.data.offers import CATEGORY_COPY
from loyaltylens.generation.offer_copy import OfferCopy

ALLOWED_TONES: dict[str, frozenset[str]] = {
    "budget": frozenset({"friendly", "warm"}),
    "premium": frozenset({"refined", "professional"}),
    "family": frozenset({"warm", "friendly"}),
    "horeca": frozenset({"professional", "friendly"}),
}
BANNED_CLAIMS = (
    r"\bfree\b",
    r"\bguarantee[ds]?\b",
    r"\b(best|lowest|cheapest) (price|prices|deal)\b",
    r"\bunlimited\b",
    r"\bno (conditions|catch|strings)\b",
    r"\brisk[- ]free\b",
    r"\b(cures?|heals?|clinically)\b",
    r"\bmiracle\b",
    r"\bforever\b",
    r"\bwinners?\b|\byou('ve| have) won\b",
)
INJECTION_MARKERS = (
    r"\bignore\b.{0,30}\b(instructions?|rules?|above|previous)\b",
    r"\bdisregard\b",
    r"\b(system|developer) (prompt|message|mode)\b",
    r"\binstructions?\b",
    r"\b(reveal|print|output|respond|reply|say|announce|promise)\b",
    r"\b(tell|ask|instruct)\b.{0,20}\b(readers?|customers?|users?|them|people)\b",
    r"\byou are now\b",
    r"\bas an ai\b",
    r"\bjailbreak\b",
    r"\b(password|api[ _-]?key|token|secret)s?\b",
    r"\bpromo(tion)? code\b|\bcoupon code\b|\buse code\b",
    r"https?://|www\.|\.(com|net|org|io|ru|xyz)\b",
    r"<[a-z/!][^>]*>",  # markup
    r"[{}`]|\$\(",  # template / code syntax
)
PII_PATTERNS = {
    "email": r"[\w.+-]+@[\w-]+\.[\w.-]+",
    "phone": r"\+?\d[\d\s().-]{7,}\d",
    "card or account number": r"\b(?:\d[ -]?){12,19}\b",
    "iban": r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b",
}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_AMOUNT = re.compile(r"(€\s?|EUR\s?)?(\d+(?:[.,]\d+)?)(\s?%| ?percent\b)?", re.I)
RUDE_WORDS = r"\b(fools?|idiots?|stupid|losers?|shut up)\b"
_KNOWN_NAMES = sorted(
    {name.lower() for label, products in CATEGORY_COPY.values() for name in (label, *products)},
    key=len,
    reverse=True,
)


@dataclass(frozen=True)
class Violation:
    rule: str  # faithfulness | banned_claim | tone | pii | injection
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def check_copy(copy: OfferCopy, variables: dict[str, str]) -> list[Violation]:
    """Every guardrail violation of ``copy`` written for the offer and customer in ``variables``."""
    text = f"{copy.headline}\n{copy.body}\n{copy.cta}"
    return [
        *check_faithfulness(text, variables),
        *check_banned_claims(text),
        *check_tone(copy.tone, variables["segment"], text),
        *check_pii(text),
        *check_injection(text),
    ]


def check_faithfulness(text: str, variables: dict[str, str]) -> list[Violation]:
    """Numbers and catalogue names in ``text`` that the offer does not contain.

    The offer's structured fields are the authority: a percentage must be its discount and a euro amount
    its minimum spend. Other numbers (a date) may come from its title or text, unless that text itself
    carries instruction-like content, in which case it is not trusted for anything.
    """
    discount, min_spend = _as_number(variables["discount_pct"]), _as_number(variables["min_spend"])
    free_text = f"{variables['offer_title']} {variables['offer_text']}"
    trusted_text = free_text if not check_injection(free_text) else ""
    allowed = {discount, min_spend} | {_as_number(n) for n in _NUMBER.findall(trusted_text)}
    violations = []
    for match in _AMOUNT.finditer(text):
        currency, number, percent = match.group(1), _as_number(match.group(2)), match.group(3)
        if percent and number != discount:
            violations.append(Violation("faithfulness", f"{match.group(0).strip()} is not the offer's discount"))
        elif currency and number != min_spend:
            violations.append(Violation("faithfulness", f"{match.group(0).strip()} is not the offer's minimum spend"))
        elif not percent and not currency and number not in allowed:
            violations.append(Violation("faithfulness", f"number {match.group(2)} is not in the offer"))
    label = CATEGORY_COPY.get(variables["category"], (variables["category"], ()))[0]
    offer_names = f"{trusted_text} {label} {variables['category'].replace('_', ' ')}".lower()
    remaining = text.lower()
    for name in _KNOWN_NAMES:  # longest first, so "organic baby food" is not also read as "baby food"
        if name in remaining:
            if name not in offer_names:
                violations.append(Violation("faithfulness", f"'{name}' is not part of this offer"))
            remaining = remaining.replace(name, " ")
    return violations


def check_banned_claims(text: str) -> list[Violation]:
    # Product names may contain claim words ("free-range chicken"); they are checked as names instead.
    cleaned = text.lower()
    for name in _KNOWN_NAMES:
        cleaned = cleaned.replace(name, " ")
    return [
        Violation("banned_claim", f"'{match.group(0)}'")
        for pattern in BANNED_CLAIMS
        if (match := re.search(pattern, cleaned, re.I))
    ]


def check_tone(tone: str, segment: str, text: str = "") -> list[Violation]:
    """The declared tone must suit the segment, and the text must not shout or insult."""
    allowed = ALLOWED_TONES.get(segment, frozenset())
    violations = []
    if tone not in allowed:
        violations.append(
            Violation("tone", f"tone '{tone}' is not allowed for segment '{segment}' ({sorted(allowed)})")
        )
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) > 0.5 * len(letters):
        violations.append(Violation("tone", "shouting (mostly capital letters)"))
    if match := re.search(RUDE_WORDS, text, re.I):
        violations.append(Violation("tone", f"disrespectful: '{match.group(0)}'"))
    return violations


def check_pii(text: str) -> list[Violation]:
    return [
        Violation("pii", f"looks like a {kind}: '{match.group(0)}'")
        for kind, pattern in PII_PATTERNS.items()
        if (match := re.search(pattern, text))
    ]


def check_injection(text: str) -> list[Violation]:
    return [
        Violation("injection", f"'{match.group(0)}' does not belong in offer copy")
        for pattern in INJECTION_MARKERS
        if (match := re.search(pattern, text, re.I))
    ]


def _as_number(text: str) -> float:
    return float(text.replace(",", "."))
