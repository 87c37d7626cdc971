"""Rated copies become corpus pieces: slot filling undone, the context the model conditions on."""

from loyaltylens.generation.corpus import build_corpus, delexicalise, fill_slots, offer_context, synthetic_offers
from loyaltylens.generation.prompts import load_prompt
from loyaltylens.generation.training import PREFERRED_REPEATS, preferred_corpus
from loyaltylens.generation.writer import parse_copy
from tests.generation.conftest import PROMPTS


def _variables(offer) -> dict[str, str]:
    return {
        "segment": "budget", "channel": "web", "category": offer.category, "min_spend": str(offer.min_spend),
        "discount_pct": str(offer.discount_pct), "offer_title": offer.title, "offer_text": offer.text,
    }  # fmt: skip


def test_delexicalise_undoes_slot_filling_on_the_corpus():
    offers = synthetic_offers(20, seed=3)
    corpus = build_corpus(offers, copies_per_pair=1, seed=3)
    checked = 0
    for offer in offers.itertuples(index=False):
        variables = _variables(offer)
        context = offer_context(variables)
        for piece_context, copy in corpus:
            if piece_context == context and "[" in copy and ("[label]" in copy) != ("[product]" in copy):
                assert delexicalise(fill_slots(copy, variables), variables) == copy
                checked += 1
                break
    assert checked >= 10


def test_preferred_copies_become_weighted_corpus_pieces():
    prompt = load_prompt(PROMPTS, "offer_copy")
    pieces = preferred_corpus(prompt, [("20% off cheese in the app for budget shoppers", "Save 20% on cheese.")])
    assert len(pieces) == PREFERRED_REPEATS and len(set(pieces)) == 1
    context, copy = pieces[0]
    assert context.startswith("segment budget channel mobile") and "[pct]%" in copy and "20%" not in copy


def test_a_copy_rated_as_shown_is_trained_on_as_the_json_the_model_writes():
    """Users rate headline / body / call to action as lines of text; the model must keep answering OfferCopy
    JSON for those contexts, so the piece is that JSON (the segment's tone), not the lines."""
    prompt = load_prompt(PROMPTS, "offer_copy")
    shown = "20% off cheese\nSave 20% on cheese this week. Smart savings on your everyday shop.\nOrder in the app"
    ((context, copy),) = set(preferred_corpus(prompt, [("20% off cheese in the app for budget shoppers", shown)]))
    variables = {"segment": "budget", "channel": "mobile", "category": "dairy", "min_spend": "0",
                 "discount_pct": "20", "offer_title": "Cheese", "offer_text": "20% off cheese"}  # fmt: skip
    parsed = parse_copy(fill_slots(copy, variables))
    assert (parsed.headline, parsed.cta, parsed.tone) == ("20% off cheese", "Order in the app", "friendly")
    assert "[pct]%" in copy and "20%" not in copy
