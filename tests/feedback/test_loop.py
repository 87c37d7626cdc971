"""The loop's library half: simulated ratings -> rolling quality -> retraining triggers, and the preference
exports, validated against the formats fine-tuning consumes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jsonschema
import numpy as np
import pytest

from loyaltylens.feedback.export import (
    ChatExample,
    PreferencePair,
    chat_examples,
    preference_pairs,
    read_jsonl,
    write_jsonl,
)
from loyaltylens.feedback.quality import recent_quality, rolling_quality, window_quality
from loyaltylens.feedback.simulator import CopyToRate, copy_qualities, simulate_ratings
from loyaltylens.feedback.store import open_feedback_store
from loyaltylens.feedback.triggers import retraining_decision
from tests.feedback.conftest import make_offer

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
VARIABLES = {
    "segment": "budget",
    "channel": "mobile",
    "offer_title": "Dairy deal",
    "offer_text": "20% off milk, yoghurt and cheese in the app",
    "category": "dairy",
    "discount_pct": "20",
    "min_spend": "0",
}
GOOD = "20% off milk, yoghurt and cheese in the app: your dairy for less this week."
UNFAITHFUL = "30% off milk, yoghurt and cheese in the app: your dairy for less this week."
BAD = "50% off everything, guaranteed! Free coffee beans with every basket."
# An OpenAI chat fine-tuning line and a TRL/DPO preference line, as their docs define them.
CHAT_SCHEMA = {
    "type": "object",
    "required": ["messages"],
    "additionalProperties": False,
    "properties": {
        "messages": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "additionalProperties": False,
                "properties": {
                    "role": {"enum": ["system", "user", "assistant"]},
                    "content": {"type": "string", "minLength": 1},
                },
            },
            "contains": {"properties": {"role": {"const": "user"}}},
        }
    },
}
DPO_SCHEMA = {
    "type": "object",
    "required": ["prompt", "chosen", "rejected"],
    "additionalProperties": False,
    "properties": {name: {"type": "string", "minLength": 1} for name in ["prompt", "chosen", "rejected"]},
}


def _copies(copy_text: str, generator: str, n: int, day: int, prompt: str = "Write copy: dairy 20%") -> list:
    return [
        CopyToRate(
            make_offer(
                f"{generator}-{day}-{copy_text[:2]}-{i}",  # the copy's discount tells the copies apart
                customer_id=i,
                generator_version=generator,
                copy_text=copy_text,
                prompt=prompt,
                created_at=START + timedelta(days=day),
            ),
            VARIABLES,
            "friendly",
        )
        for i in range(n)
    ]


def _simulated_frame(days_good: int, days_drifted: int, drifted_share: float, seed: int = 0):
    """Ratings of generator g1 (all good copy) for ``days_good`` days, then g2 (``drifted_share`` bad)."""
    rng = np.random.default_rng(seed)
    ratings = []
    for day in range(days_good + days_drifted):
        generator, bad = ("g1", 0) if day < days_good else ("g2", int(40 * drifted_share))
        items = _copies(GOOD, generator, 40 - bad, day) + _copies(BAD, generator, bad, day)
        ratings += simulate_ratings(items, START + timedelta(days=day, hours=2), rng)
    return ratings


def _frame(ratings):
    import pandas as pd

    rows = [r.model_dump() | {"prompt": "Write copy: dairy 20%"} for r in ratings]
    frame = pd.DataFrame(rows)
    frame["rated_at"] = pd.to_datetime(frame["rated_at"], utc=True)
    frame["stars"] = frame["stars"].astype("Float64")
    return frame


def test_the_audience_judges_faithful_relevant_on_brand_copy():
    assert copy_qualities(_copies(GOOD, "g", 1, 0)[0]) == {"faithful": True, "relevant": True, "on_brand": True}
    assert copy_qualities(_copies(UNFAITHFUL, "g", 1, 0)[0])["faithful"] is False
    assert copy_qualities(_copies(BAD, "g", 1, 0)[0]) == {"faithful": False, "relevant": False, "on_brand": False}
    rng = np.random.default_rng(1)
    stars = {
        text: np.mean([r.stars for r in simulate_ratings(_copies(text, "g", 400, 0), START, rng) if r.stars])
        for text in (GOOD, UNFAITHFUL, BAD)
    }
    assert stars[GOOD] > 4.0 > stars[UNFAITHFUL] > stars[BAD]  # preferences, with noise: not all fives
    assert 1 < len({r.stars for r in simulate_ratings(_copies(GOOD, "g", 200, 0), START, rng)} - {None})


def test_rolling_quality_is_per_version_and_day():
    frame = _frame(_simulated_frame(days_good=7, days_drifted=7, drifted_share=0.6))
    rolled = rolling_quality(frame, window_days=7)
    g1, g2 = rolled[rolled.generator_version == "g1"], rolled[rolled.generator_version == "g2"]
    assert len(g1) == 14 and len(g2) == 7  # g1's window runs on (empty days) until the last day rated
    assert g1["mean_stars"].iloc[6] > 4.0 and g2["mean_stars"].iloc[-1] < 3.0
    assert g1["star_ratings"].iloc[6] == frame[(frame.generator_version == "g1")]["stars"].notna().sum()
    assert 0.0 <= g2["thumbs_up_rate"].min() <= g2["thumbs_up_rate"].max() <= 1.0


def test_the_trigger_fires_on_a_planted_quality_drop_and_not_otherwise(isolated_settings):
    settings = isolated_settings
    drop = _frame(_simulated_frame(days_good=7, days_drifted=7, drifted_share=0.6))
    steady = _frame(_simulated_frame(days_good=14, days_drifted=0, drifted_share=0.0))
    before, after = START + timedelta(days=7), START + timedelta(days=14)

    assert retraining_decision(window_quality(drop, before), False, 0, settings).retrain is False
    assert retraining_decision(window_quality(steady, after), False, 0, settings).retrain is False
    fired = retraining_decision(window_quality(drop, after), False, 0, settings)
    assert fired.retrain and all("generator g2" in reason for reason in fired.reasons)
    assert any("mean" in reason for reason in fired.reasons) and any("thumbs-up" in r for r in fired.reasons)

    # A few bad ratings are noise, not a drop; the other two triggers fire on their own.
    few = _frame(_simulated_frame(days_good=0, days_drifted=1, drifted_share=1.0)[:5])
    assert retraining_decision(window_quality(few, after), False, 0, settings).retrain is False
    drift = retraining_decision(window_quality(steady, after), True, 0, settings)
    assert drift.reasons == ["drift monitor: retrain"]
    campaigns = retraining_decision(window_quality(steady, after), False, settings.retrain_min_new_campaigns, settings)
    assert campaigns.retrain and "labelled campaigns" in campaigns.reasons[0]
    assert not retraining_decision(
        window_quality(steady, after), False, settings.retrain_min_new_campaigns - 1, settings
    ).retrain


def test_recent_quality_reads_the_settings_store(isolated_settings):
    settings = isolated_settings
    ratings = _simulated_frame(days_good=7, days_drifted=7, drifted_share=0.6)
    with open_feedback_store(settings) as store:
        for rating in ratings:
            store.add_feedback(rating)
    quality = recent_quality(settings, START + timedelta(days=14)).set_index("generator_version")
    assert set(quality.index) == {"g2"}  # g1 stopped rating more than 7 days before
    assert quality.loc["g2", "star_ratings"] == sum(r.stars is not None for r in ratings if r.generator_version == "g2")


def test_exports_validate_against_the_formats(tmp_path):
    rng = np.random.default_rng(3)
    prompt_a, prompt_b = "Write copy: dairy 20%", "Write copy: dairy 20% (premium)"
    items = (
        _copies(GOOD, "g1", 30, 0, prompt_a)
        + _copies(UNFAITHFUL, "g1", 30, 0, prompt_a)
        + _copies(BAD, "g1", 30, 0, prompt_a)
        + _copies(GOOD, "g1", 5, 0, prompt_b)
    )
    frame = _frame(simulate_ratings(items, START, rng))
    frame.loc[frame.index[-5:], "prompt"] = prompt_b

    chats = chat_examples(frame, min_score=0.7)
    pairs = preference_pairs(frame, min_margin=0.25)
    assert {c.messages[-1].content for c in chats} == {GOOD}  # only the top-rated copy, for both prompts
    assert {(p.chosen, p.rejected) for p in pairs} == {(GOOD, UNFAITHFUL), (GOOD, BAD), (UNFAITHFUL, BAD)}
    assert {p.prompt for p in pairs} == {prompt_a}  # prompt_b has one copy: nothing to compare

    for rows, kind, schema, name in [
        (chats, ChatExample, CHAT_SCHEMA, "sft"),
        (pairs, PreferencePair, DPO_SCHEMA, "dpo"),
    ]:
        path = tmp_path / f"{name}.jsonl"
        assert write_jsonl(rows, path) == len(rows) > 0
        for line in path.read_text().splitlines():
            jsonschema.validate(json.loads(line), schema)
        assert read_jsonl(path, kind) == rows
    with pytest.raises(jsonschema.ValidationError):  # the schemas do reject a broken line
        jsonschema.validate({"prompt": "p", "chosen": "c"}, DPO_SCHEMA)
