"""Preference data from ratings, as JSONL: OpenAI fine-tuning chat examples of the top-rated copies, and
DPO pairs (``prompt``, ``chosen``, ``rejected``: TRL's standard preference format) from copies of the same
prompt rated apart.

Every rating becomes one score in [0, 1] (stars 1-5 -> 0..1, thumbs down/up -> 0/1, both -> their mean);
a copy's score is the mean over its ratings. Ratings whose offer was never registered have no prompt and
are left out. Each line is validated against its format's model before it is written.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)


class ChatExample(BaseModel):
    """One line of OpenAI's chat fine-tuning format: the conversation ends with the assistant's answer."""

    model_config = ConfigDict(extra="forbid")

    messages: list[ChatMessage] = Field(min_length=2)

    @model_validator(mode="after")
    def _ends_with_the_answer(self) -> ChatExample:
        if self.messages[-1].role != "assistant" or not any(m.role == "user" for m in self.messages):
            raise ValueError("a chat example needs a user message and ends with the assistant's")
        return self


class PreferencePair(BaseModel):
    """One line of a DPO dataset: the same prompt, a preferred and a dispreferred completion."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1)
    chosen: str = Field(min_length=1)
    rejected: str = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> PreferencePair:
        if self.chosen == self.rejected:
            raise ValueError("chosen and rejected are the same copy")
        return self


def copy_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (prompt, copy): mean rating score in [0, 1] and the number of ratings (``feedback_frame`` input)."""
    rated = frame[frame["prompt"].notna()]
    stars = (rated["stars"].astype("float64") - 1.0) / 4.0
    thumb = rated["thumb"].map({"up": 1.0, "down": 0.0}).astype("float64")
    score = pd.concat([stars, thumb], axis=1).mean(axis=1)  # NaN-skipping: one or both kinds
    return (
        rated.assign(score=score)
        .groupby(["prompt", "copy_text"], as_index=False)
        .agg(score=("score", "mean"), ratings=("score", "size"))
    )


def chat_examples(frame: pd.DataFrame, min_score: float = 0.875, min_ratings: int = 1) -> list[ChatExample]:
    """The copies scored at least ``min_score`` (0.875 = 4.5 stars) as user prompt -> assistant copy."""
    scores = copy_scores(frame)
    top = scores[(scores["score"] >= min_score) & (scores["ratings"] >= min_ratings)]
    return [
        ChatExample(messages=[ChatMessage(role="user", content=p), ChatMessage(role="assistant", content=c)])
        for p, c in zip(top["prompt"], top["copy_text"], strict=True)
    ]


def preference_pairs(frame: pd.DataFrame, min_margin: float = 0.25) -> list[PreferencePair]:
    """Every two copies of one prompt whose scores differ by at least ``min_margin`` (0.25 = one star)."""
    pairs = []
    for prompt, copies in copy_scores(frame).groupby("prompt", sort=True):
        ranked = copies.sort_values(["score", "copy_text"], ascending=[False, True])
        for better, worse in itertools.combinations(ranked.itertuples(index=False), 2):
            if better.score - worse.score >= min_margin:
                pairs.append(PreferencePair(prompt=prompt, chosen=better.copy_text, rejected=worse.copy_text))
    return pairs


def write_jsonl(rows: Iterable[BaseModel], path: Path) -> int:
    """Write one JSON object per line, atomically (a reader never sees half a file); returns the line count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row.model_dump(), ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, path)
    return count


def read_jsonl(path: Path, kind: type[ChatExample] | type[PreferencePair]) -> list[BaseModel]:
    """Read and validate an export (raises pydantic's ValidationError on a line that breaks the format)."""
    return [kind.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
