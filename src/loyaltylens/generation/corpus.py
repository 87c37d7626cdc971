"""The local copy model's training corpus and conditioning: phrase banks, contexts and slot filling.

For every offer, customer segment and channel the corpus holds several pieces of copy written from varied
phrase banks (headlines, openers, segment lines, calls to action, each segment with its tone). The copy is
*delexicalised*: offer facts appear as slot tokens (``[pct]``, ``[spend]``, ``[product]``, ``[Product]``,
``[label]``), which the model learns to place and :func:`fill_slots` replaces with the offer's own values.
So the model decides wording and structure, and every number and product name in its output comes from the
offer by construction.

The context the model reads is built from prompt variables (:func:`offer_context`); for a request that is
not the product's own rendered prompt, :func:`variables_from_text` reads the same fields out of free text
with a linear scan over its words (no regular expression runs on the request).

Reference: Wen et al. 2015 (delexicalised NLG for dialogue systems).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from loyaltylens.data.offers import CATEGORY_COPY
from loyaltylens.errors import InvalidInputError
from loyaltylens.generation.prompts import PromptSpec
from loyaltylens.vocabulary import CHANNELS, SEGMENTS

BOS, SEP, EOS, PAD = "<bos>", "<sep>", "<eos>", "<pad>"
SLOTS = ("[pct]", "[spend]", "[product]", "[Product]", "[label]")

TONE_BY_SEGMENT = {"budget": "friendly", "premium": "refined", "family": "warm", "horeca": "professional"}
HEADLINES = (
    "[pct]% off [label]",
    "Save [pct]% on [product]",
    "[Product] for [pct]% less",
    "Your [pct]% [label] deal",
    "[pct]% off [product]",
    "A [label] treat: [pct]% off",
    "Take [pct]% off [label]",
)
OPENERS = (
    "Take [pct]% off [product] and all other [label]",
    "Enjoy [pct]% off [label], [product] included",
    "Save [pct]% on [product] this time",
    "Your [pct]% discount covers [product] and more [label]",
    "Get [pct]% off everything in [label]",
    "Enjoy [pct]% off all [label]",
    "Save [pct]% across our [label] range",
)
SPEND_CLAUSES = (" when you spend €[spend] or more", " on a basket of €[spend] or more")
SEGMENT_LINES = {
    "budget": (
        "More value on what you buy every week.",
        "Smart savings on your everyday shop.",
        "Keep more money in your pocket.",
    ),
    "premium": (
        "Selected for you as a valued member.",
        "A little extra for our most valued members.",
        "Quality you love, now for less.",
    ),
    "family": (
        "Something good for the whole family.",
        "Less to pay for the family shop.",
        "Good food for everyone at home.",
    ),
    "horeca": (
        "Stock up for your business and save.",
        "Keep your kitchen supplied for less.",
        "Lower costs for your business.",
    ),
}
CTAS = {
    "in_store": ("Show your card at checkout", "Scan your card in store", "Visit your local store"),
    "mobile": ("Activate in the app", "Tap to add it in the app", "Open the app to save"),
    "web": ("Shop online now", "Order online today", "Add it to your online basket"),
}


def offer_context(variables: dict[str, str]) -> str:
    """The model's conditioning text for one offer and customer (prompt variables in, context out)."""
    segment, channel, category = variables["segment"], variables["channel"], variables["category"]
    if segment not in SEGMENTS or channel not in CHANNELS or category not in CATEGORY_COPY:
        raise InvalidInputError(
            f"unknown segment/channel/category {segment!r}/{channel!r}/{category!r}; "
            f"expected one of {SEGMENTS} / {CHANNELS} / {tuple(CATEGORY_COPY)}"
        )
    spend = "yes" if _number(variables["min_spend"]) > 0 else "no"
    product = "yes" if _offer_product(variables) else "no"
    return f"segment {segment} channel {channel} category {category} spend {spend} product {product}"


# What a free-text request is read as when it names no segment, channel, category, discount or spend.
FREE_TEXT_DEFAULTS = {
    "segment": "budget",
    "channel": "web",
    "category": "produce",
    "discount_pct": "10",
    "min_spend": "0",
}
_CATEGORY_WORDS = {
    word: category
    for category, (label, products) in CATEGORY_COPY.items()
    for word in (category, *category.split("_"), *label.split(), *(w for p in products for w in p.lower().split()))
    if len(word) > 3 and word not in {"fresh", "organic", "salted", "aged", "free-range", "food", "products"}
}


def conditioning_variables(prompt: PromptSpec, texts: Sequence[str]) -> dict[str, str]:
    """What the model conditions on for a request: the variables of the first text that is ``prompt``'s
    rendered user message about a known segment, channel and category (discount in (0, 100)), else the fields
    :func:`variables_from_text` finds in all of them. Linear in the texts' length."""
    for text in texts:
        try:
            values = prompt.parse_user(text)
            offer_context(values)
        except (InvalidInputError, KeyError):
            continue
        discount, spend = _plain_number(values["discount_pct"]), _plain_number(values["min_spend"])
        if discount is not None and 0 < discount < 100 and spend is not None:
            return values
    return variables_from_text(" ".join(texts))


def variables_from_text(text: str) -> dict[str, str]:
    """Prompt variables read out of free text (any client's message): the first segment, channel and
    category word it names, a ``NN%`` discount in (0, 100) and a ``€NN`` minimum spend, else
    :data:`FREE_TEXT_DEFAULTS`; the text itself is the offer text. One pass over its words, no regex."""
    found: dict[str, str] = {}
    for raw in text.lower().split():
        word = raw.strip(".,;:!?()[]\"'")
        if word in SEGMENTS:
            found.setdefault("segment", word)
        elif word.replace("-", "_") in CHANNELS or word in ("app", "online", "store"):
            found.setdefault(
                "channel", {"app": "mobile", "online": "web", "store": "in_store"}.get(word, word.replace("-", "_"))
            )
        elif word in _CATEGORY_WORDS:
            found.setdefault("category", _CATEGORY_WORDS[word])
        elif word.endswith("%") and _plain_number(word[:-1]) is not None and 0 < _plain_number(word[:-1]) < 100:
            found.setdefault("discount_pct", f"{_plain_number(word[:-1]):g}")
        elif word.startswith("€") and _plain_number(word[1:]) is not None:
            found.setdefault("min_spend", f"{_plain_number(word[1:]):g}")
    title = " ".join(text.split()[:8])
    return {**FREE_TEXT_DEFAULTS, **found, "offer_title": title, "offer_text": text}


def _plain_number(text: str) -> float | None:
    """``text`` as a non-negative decimal number of at most 9 characters, else None."""
    if not 0 < len(text) <= 9 or text.count(".") > 1 or not text.replace(".", "").isdigit():
        return None
    return float(text)


def _offer_product(variables: dict[str, str]) -> str | None:
    """The catalogue product the offer names, if it names one."""
    text = f"{variables['offer_title']} {variables['offer_text']}".lower()
    return next((p for p in CATEGORY_COPY[variables["category"]][1] if p.lower() in text), None)


def slot_values(variables: dict[str, str]) -> dict[str, str]:
    """What each slot token stands for, taken from the offer only."""
    label = CATEGORY_COPY[variables["category"]][0]
    product = _offer_product(variables) or label  # the model is told there is none, so it rarely asks
    return {
        "[pct]": f"{_number(variables['discount_pct']):g}",
        "[spend]": f"{_number(variables['min_spend']):g}",
        "[product]": product,
        "[Product]": product[0].upper() + product[1:],
        "[label]": label,
    }


def fill_slots(text: str, variables: dict[str, str]) -> str:
    values = slot_values(variables)
    return re.sub("|".join(re.escape(slot) for slot in SLOTS), lambda m: values[m.group(0)], text)


def delexicalise(text: str, variables: dict[str, str]) -> str:
    """The inverse of :func:`fill_slots`: the offer's product, label, ``€spend`` and ``pct%`` back to slot tokens,
    so a filled copy (e.g. one users rated) can be trained on like the corpus."""
    values = slot_values(variables)
    # With no product in the offer, [product] fills in the label: the label is then read back as [label].
    names = ("[Product]", "[product]", "[label]") if _offer_product(variables) else ("[label]",)
    replacements = [(slot, values[slot]) for slot in names]
    replacements += [("€[spend]", f"€{values['[spend]']}"), ("[pct]%", f"{values['[pct]']}%")]
    for slot, value in replacements:
        text = text.replace(value, slot)
    return text


def build_corpus(offers: pd.DataFrame, copies_per_pair: int, seed: int) -> list[tuple[str, str]]:
    """(context, delexicalised JSON copy) pairs for every offer x segment x channel."""
    rng = np.random.default_rng(seed)
    corpus = []
    for offer in offers.itertuples(index=False):
        for segment in SEGMENTS:
            for channel in CHANNELS:
                variables = {
                    "segment": segment,
                    "channel": channel,
                    "category": offer.category,
                    "min_spend": str(offer.min_spend),
                    "discount_pct": str(offer.discount_pct),
                    "offer_title": offer.title,
                    "offer_text": offer.text,
                }
                context = offer_context(variables)
                has_product = _offer_product(variables) is not None
                for _ in range(copies_per_pair):
                    corpus.append((context, _sample_copy(rng, segment, channel, offer.min_spend > 0, has_product)))
    return corpus


def synthetic_offers(n_offers: int, seed: int) -> pd.DataFrame:
    """A catalogue drawn the way the data generator draws a dataset's ``offers`` table."""
    from datetime import date

    from loyaltylens.data.generator import GeneratorConfig as DataConfig
    from loyaltylens.data.offers import generate_offers

    config = DataConfig(n_offers=n_offers, seed=seed)
    catalogue = generate_offers(config, np.random.default_rng(seed))
    return catalogue.table(date.fromisoformat(config.start_date)).to_pandas()


def _sample_copy(rng: np.random.Generator, segment: str, channel: str, has_spend: bool, has_product: bool) -> str:
    def pick(options: Sequence[str]) -> str:
        usable = [o for o in options if has_product or "roduct]" not in o]  # no product: phrases without one
        return usable[rng.integers(len(usable))]

    spend = pick(SPEND_CLAUSES) if has_spend else ""
    copy = {
        "headline": pick(HEADLINES),
        "body": f"{pick(OPENERS)}{spend}. {pick(SEGMENT_LINES[segment])}",
        "cta": pick(CTAS[channel]),
        "tone": TONE_BY_SEGMENT[segment],
    }
    return json.dumps(copy, ensure_ascii=False)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidInputError(f"expected a number, got {text!r}") from None
