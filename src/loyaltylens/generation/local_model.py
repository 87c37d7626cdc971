"""The local copy model at inference time, and its model directory.

The directory is a Hugging Face ``save_pretrained`` directory (so the ``hf`` backend and KServe's Hugging
Face runtime can load it too) plus ``generator.json`` (training config and :class:`TrainingReport`) and the
prompt it answers (``prompt.yaml``). It is written by :mod:`loyaltylens.generation.training`; the model reads
the context of :mod:`loyaltylens.generation.corpus` and every number and product name in its copy is filled
in from the offer (a model trained on other data, or the ``hf`` / ``openai`` backends, have no such
guarantee: the guardrails check all of them).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from loyaltylens.errors import NotFoundError
from loyaltylens.generation.corpus import BOS, SEP, fill_slots, offer_context
from loyaltylens.generation.prompts import read_prompt_file

META_FILE = "generator.json"
PROMPT_FILE = "prompt.yaml"


@dataclass(frozen=True)
class TrainingReport:
    steps: int
    final_loss: float
    seconds: float
    n_parameters: int
    corpus_size: int


@dataclass(frozen=True)
class Sampling:
    """How to sample one completion. ``max_tokens`` None: the model's own limit; ``seed``: reproducible."""

    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int  # generated tokens (copy length before slot filling)
    finish_reason: Literal["stop", "length"]  # length: cut by the token limit before the model ended it
    prompt_tokens: int = 0  # tokens of the context the model read


class CopyStream:
    """The copy for one entry as text pieces while they are generated; ``completion`` once exhausted."""

    def __init__(self, pieces: Iterator[str]):
        self._pieces = pieces
        self.completion: Completion | None = None

    def __iter__(self) -> Iterator[str]:
        return self._pieces


class LocalCopyModel:
    """A trained model directory, ready to write copy for prompt variables."""

    def __init__(self, model_dir: Path, max_new_tokens: int = 96):
        import torch
        from transformers import AutoTokenizer, GPT2LMHeadModel

        model_dir = Path(model_dir)
        if not (model_dir / META_FILE).is_file():
            raise NotFoundError(f"{model_dir} is not a generator model directory (no {META_FILE})")
        self.model_dir = model_dir
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.padding_side = "left"
        self.model = GPT2LMHeadModel.from_pretrained(model_dir).eval()
        self.prompt = read_prompt_file(model_dir / PROMPT_FILE)
        self.max_new_tokens = max_new_tokens
        self._torch = torch
        # torch's sampling RNG is process-global: a seeded request reseeds it and samples under this lock,
        # so no concurrent generation draws from the stream between the two.
        self._rng_lock = threading.Lock()

    def generate(
        self,
        variables: Sequence[dict[str, str]],
        temperature: float = 0.8,
        top_p: float = 0.95,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[Completion]:
        """One piece of copy (JSON text, slots filled) per entry of ``variables``, generated as one batch."""
        sampling = Sampling(temperature, top_p, max_tokens, seed)
        prompts = [f"{BOS}{offer_context(v)}{SEP}" for v in variables]
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True)
        with self._rng_lock, self._torch.inference_mode():
            if seed is not None:
                self._torch.manual_seed(seed)
            output = self.model.generate(**encoded, **self._sampling(sampling))
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        prompt_tokens = encoded["attention_mask"].sum(dim=1).tolist()
        return [
            self._completion(row.tolist(), values, used)
            for row, values, used in zip(new_tokens, variables, prompt_tokens, strict=True)
        ]

    def stream(
        self,
        values: dict[str, str],
        temperature: float = 0.8,
        top_p: float = 0.95,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> CopyStream:
        """The copy for one entry as text pieces, as they are generated (slots filled per piece)."""
        from transformers import TextIteratorStreamer

        sampling = Sampling(temperature, top_p, max_tokens, seed)
        encoded = self.tokenizer([f"{BOS}{offer_context(values)}{SEP}"], return_tensors="pt")
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        result: list = []

        def run() -> None:
            with self._rng_lock, self._torch.inference_mode():
                if seed is not None:
                    self._torch.manual_seed(seed)
                result.append(self.model.generate(**encoded, streamer=streamer, **self._sampling(sampling)))

        def pieces() -> Iterator[str]:
            worker = threading.Thread(target=run, name="generator-stream", daemon=True)
            worker.start()
            for piece in streamer:
                if piece:
                    yield fill_slots(piece, values)
            worker.join()
            row = result[0][0, encoded["input_ids"].shape[1] :].tolist()
            stream.completion = self._completion(row, values, int(encoded["input_ids"].shape[1]))

        stream = CopyStream(pieces())
        return stream

    def _completion(self, row: list[int], values: dict[str, str], prompt_tokens: int) -> Completion:
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        tokens = [t for t in row if t not in (pad, eos)]
        finish = "stop" if eos in row else "length"
        return Completion(fill_slots(self.tokenizer.decode(tokens), values), len(tokens), finish, prompt_tokens)

    def _sampling(self, sampling: Sampling) -> dict:
        limit = min(sampling.max_tokens or self.max_new_tokens, self.max_new_tokens)
        ids = {"eos_token_id": self.tokenizer.eos_token_id, "pad_token_id": self.tokenizer.pad_token_id}
        if sampling.temperature <= 0:
            return {"do_sample": False, "max_new_tokens": limit, **ids}
        return {
            "do_sample": True,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": 0,
            "max_new_tokens": limit,
            **ids,
        }
