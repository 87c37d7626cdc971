"""The template generator over the versioned prompt file: valid OfferCopy, faithful to the offer."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.prompts import load_prompt
from loyaltylens.generation.template import TemplateGenerator
from loyaltylens.retrieval.exact import OfferHit

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"
OFFER = OfferHit(
    offer_id=7,
    score=0.9,
    title="Dairy deal",
    category="dairy",
    discount_pct=20.0,
    channel="mobile",
    text="20% off milk, yoghurt and cheese in the app.",
    min_spend=10.0,
)


@pytest.mark.parametrize("segment", ["budget", "premium", "family", "horeca"])
@pytest.mark.parametrize("channel", ["in_store", "mobile", "web"])
def test_every_segment_and_channel_gets_valid_copy(segment, channel):
    copy = TemplateGenerator(load_prompt(PROMPTS, "offer_copy")).generate(OFFER, segment, channel)
    assert isinstance(copy, OfferCopy)
    assert copy.headline == "20% off dairy"
    assert copy.body.startswith(OFFER.text)


def test_generator_reports_the_prompt_version():
    prompt = load_prompt(PROMPTS, "offer_copy")
    assert TemplateGenerator(prompt).version == f"offer_copy@{prompt.version}"


def test_prompt_variables_must_match():
    prompt = load_prompt(PROMPTS, "offer_copy")
    with pytest.raises(InvalidInputError, match=r"missing variables \['segment'\]"):
        prompt.check_variables({name: "x" for name in prompt.variables if name != "segment"})


def test_unknown_prompt_is_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="no prompt 'nope'"):
        load_prompt(tmp_path, "nope")


def test_offer_copy_limits_are_enforced():
    with pytest.raises(ValidationError):
        OfferCopy(headline="x" * 61, body="long enough body", cta="Go", tone="friendly")
    with pytest.raises(ValidationError):
        OfferCopy(headline="Fine", body="long enough body", cta="Go", tone="shouty")
