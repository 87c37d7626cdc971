"""Structured copy: parse → validate → retry with the error fed back (bounded) → safe fallback."""

from __future__ import annotations

import pytest

from loyaltylens.errors import LoyaltyLensError
from loyaltylens.generation.backends import HFBackend, LocalBackend
from loyaltylens.generation.guardrails import check_copy
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.prompts import offer_variables
from loyaltylens.generation.writer import CopyRejected, CopyWriter, parse_copy


class ScriptedBackend:
    """Answers from a script, one per call, and records the messages it was sent."""

    name = "scripted"

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.calls: list[list[dict]] = []

    def complete(self, messages, variables, parameters) -> str:
        self.calls.append([dict(m) for m in messages])
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def good_copy(offer) -> str:
    return OfferCopy(
        headline=f"{offer.discount_pct:g}% off today",
        body=f"Take {offer.discount_pct:g}% off this week in the app.",
        cta="Activate in the app",
        tone="warm",
    ).model_dump_json()


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("Sure! Here is your copy.", "parse"),
        ('{"headline": "x", "body": ', "parse"),
        ('{"headline": "20% off", "body": "too short", "cta": "Go", "tone": "friendly"}', "schema"),
        ('{"headline": "20% off", "body": "A long enough body.", "cta": "Go", "tone": "angry"}', "schema"),
    ],
)
def test_malformed_output_is_rejected_with_a_reason(raw, kind):
    with pytest.raises(CopyRejected) as caught:
        parse_copy(raw)
    assert caught.value.kind == kind and str(caught.value)


def test_malformed_output_retries_then_falls_back(prompt, offers):
    backend = ScriptedBackend("not json", '{"headline": 1}', "```json\n{oops}\n```")
    result = CopyWriter(backend, prompt, max_retries=2).write(offers[0], "family", "mobile")
    assert result.source == "fallback"
    assert [a.kind for a in result.attempts] == ["parse", "schema", "parse"]
    assert not result.valid_json_first_try
    # every retry saw the previous answer and why it was rejected
    assert len(backend.calls) == 3 and len(backend.calls[2]) == len(backend.calls[0]) + 4
    assert "rejected" in backend.calls[1][-1]["content"] and "JSON" in backend.calls[1][-1]["content"]
    assert check_copy(result.copy, offer_variables(offers[0], "family", "mobile")) == []


def test_retry_recovers_before_the_fallback(prompt, offers):
    backend = ScriptedBackend("no json here", good_copy(offers[0]))
    result = CopyWriter(backend, prompt, max_retries=2).write(offers[0], "family", "mobile")
    assert result.source == "model" and [a.error is None for a in result.attempts] == [False, True]


def test_backend_errors_count_as_failed_attempts(prompt, offers):
    backend = ScriptedBackend(LoyaltyLensError("endpoint down"), LoyaltyLensError("endpoint down"))
    result = CopyWriter(backend, prompt, max_retries=1).write(offers[0], "budget", "web")
    assert result.source == "fallback" and [a.kind for a in result.attempts] == ["backend", "backend"]


def test_unsafe_copy_is_retried_like_malformed_copy(prompt, offers):
    offer = offers[0]
    hallucinated = OfferCopy(
        headline="75% off everything", body="Everything is 75% off this week.", cta="Go", tone="warm"
    )
    backend = ScriptedBackend(hallucinated.model_dump_json(), good_copy(offer))
    result = CopyWriter(backend, prompt, max_retries=1).write(offer, "family", "mobile")
    assert result.attempts[0].kind == "guardrail" and "75%" in result.attempts[0].error
    assert result.source == "model"


def test_local_backend_writes_accepted_copy(prompt, offers, model_dir):
    writer = CopyWriter(LocalBackend(model_dir), prompt, max_retries=2)
    results = [writer.write(offer, "budget", "in_store") for offer in offers[:4]]
    assert sum(r.source == "model" for r in results) >= 3
    for offer, result in zip(offers[:4], results, strict=True):
        assert check_copy(result.copy, offer_variables(offer, "budget", "in_store")) == []


def test_hf_backend_on_an_untrained_causal_lm_falls_back(prompt, offers, tmp_path):
    """The real ``hf`` code path on a tiny random GPT-2: its babble never parses, so the writer falls back."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from loyaltylens.generation.training import train_tokenizer

    tokenizer = train_tokenizer(["headline body cta tone offer copy"] * 20, vocab_size=300)
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=4096, n_embd=16, n_layer=1, n_head=2, **ids)
    GPT2LMHeadModel(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    writer = CopyWriter(HFBackend(tmp_path), prompt.model_copy(update={"parameters": {"max_tokens": 8}}), max_retries=1)
    result = writer.write(offers[0], "premium", "web")
    assert result.source == "fallback" and len(result.attempts) == 2


def test_writer_from_settings_uses_the_configured_local_model(isolated_settings, offers, model_dir):
    from loyaltylens.config import Settings
    from tests.generation.conftest import PROMPTS

    settings = Settings(data_dir=isolated_settings.data_dir, prompts_dir=PROMPTS, generator_model_uri=str(model_dir))
    writer = CopyWriter.from_settings(settings)
    assert writer.version == "local:offer_copy@1.0.0"
    copy = writer.generate(offers[3], "horeca", "web")
    assert check_copy(copy, offer_variables(offers[3], "horeca", "web")) == []
