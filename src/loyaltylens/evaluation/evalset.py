"""The versioned eval set: customer/offer cases with reference copies, deterministic for a version.

Offers come from the simulator's catalogue (drawn exactly as the data generator draws a dataset's ``offers``
table); each offer is paired with customer profiles (segment × channel of the simulator's vocabulary) chosen
by a seeded generator. The reference copy is a human-style rewrite from the offer's facts only (discount,
category, minimum spend, title), phrased differently from any prompt's template so BLEU/ROUGE measure
closeness to a reference and not identity with one template.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from loyaltylens.retrieval.base import OfferHit
from loyaltylens.vocabulary import CHANNELS, SEGMENTS

EVAL_SET_VERSION = "1.0.0"  # bump when cases or references change: results of different versions don't compare
N_OFFERS = 30
CASES_PER_OFFER = 2
SEED = 27

_REFERENCE_LINES = {
    "budget": "Great value for your weekly shop.",
    "premium": "A selection chosen for our valued members.",
    "family": "Good news for the whole family.",
    "horeca": "Save on supplies for your business.",
}
_CTA = {"in_store": "Show your card at checkout", "mobile": "Activate in the app", "web": "Shop online now"}


@dataclass(frozen=True)
class EvalCase:
    case_id: str
    offer: OfferHit
    segment: str
    channel: str
    reference: str  # headline + body + cta of the reference copy, one text


def build_eval_set(
    n_offers: int = N_OFFERS, cases_per_offer: int = CASES_PER_OFFER, seed: int = SEED
) -> list[EvalCase]:
    """``n_offers × cases_per_offer`` cases (default 60), the same for the same arguments."""
    from loyaltylens.generation.corpus import synthetic_offers

    rng = np.random.default_rng(seed)
    cases = []
    for row in synthetic_offers(n_offers, seed).itertuples(index=False):
        offer = OfferHit(
            offer_id=int(row.offer_id), score=1.0, title=row.title, category=row.category,
            discount_pct=float(row.discount_pct), channel=row.channel, text=row.text, min_spend=float(row.min_spend),
        )  # fmt: skip
        for index in range(cases_per_offer):
            segment = SEGMENTS[int(rng.integers(len(SEGMENTS)))]
            channel = CHANNELS[int(rng.integers(len(CHANNELS)))]
            cases.append(
                EvalCase(f"{offer.offer_id}.{index}-{segment}-{channel}", offer, segment, channel,
                         reference_copy(offer, segment, channel))
            )  # fmt: skip
    return cases


def reference_copy(offer: OfferHit, segment: str, channel: str) -> str:
    category = offer.category.replace("_", " ")
    spend = f" when you spend {offer.min_spend:g} or more" if offer.min_spend > 0 else ""
    return (
        f"Save {offer.discount_pct:g}% on {category}. {offer.title}: {offer.discount_pct:g}% off{spend}. "
        f"{_REFERENCE_LINES[segment]} {_CTA.get(channel, 'Shop now')}"
    )


def eval_set_hash(cases: list[EvalCase]) -> str:
    """A short content hash, logged with every run so results name the exact cases they scored."""
    payload = json.dumps([asdict(case) for case in cases], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
