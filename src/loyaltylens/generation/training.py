"""Training the local copy model: a small GPT-2-style causal LM with its own BPE tokenizer, from scratch.

One training sequence is ``<bos> context <sep> {"headline": ..., "body": ..., "cta": ..., "tone": ...} <eos>``
(context and copy from :mod:`loyaltylens.generation.corpus`); the loss is on the copy only. The result is a
model directory (:mod:`loyaltylens.generation.local_model`).

Reference: Radford et al. 2019 (GPT-2).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from loyaltylens.config import setting_default
from loyaltylens.generation.corpus import (
    BOS,
    EOS,
    PAD,
    SEP,
    SLOTS,
    TONE_BY_SEGMENT,
    build_corpus,
    conditioning_variables,
    delexicalise,
    offer_context,
)
from loyaltylens.generation.local_model import META_FILE, PROMPT_FILE, TrainingReport
from loyaltylens.generation.prompts import PromptSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CopyModelConfig:
    """Model, tokenizer and training sizes. The defaults train in about a minute on two cores."""

    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    n_positions: int = 128  # context (~12 tokens) + copy (~60 tokens) fit with room to spare
    vocab_size: int = 1200
    copies_per_pair: int = 2  # corpus pieces per (offer, segment, channel)
    steps: int = field(default_factory=lambda: setting_default("generator_train_steps"))
    batch_size: int = 32
    learning_rate: float = 3e-3
    seed: int = 42
    # Tiny matmuls gain little from a second thread, and on a busy 2-core machine extra threads thrash
    # (measured: 4x slower steps with 2 threads under load).
    torch_threads: int = 1


TEST_CONFIG = CopyModelConfig(n_layer=1, n_head=2, n_embd=64, vocab_size=600, copies_per_pair=1, steps=200)


def train_tokenizer(texts: Sequence[str], vocab_size: int):
    """A byte-level BPE tokenizer for the corpus, with the control and slot tokens as single tokens."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[PAD, BOS, SEP, EOS])
    bpe.add_tokens(list(SLOTS))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=BOS, eos_token=EOS, pad_token=PAD, sep_token=SEP
    )
    tokenizer.padding_side = "left"  # generation continues the right end of every row
    return tokenizer


# A rated copy stands for this many corpus pieces: a few hundred rated copies among thousands of synthetic ones
# would otherwise barely move the model.
PREFERRED_REPEATS = 4


def preferred_corpus(prompt: PromptSpec, preferred: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(context, delexicalised copy) pieces from (user message, chosen copy) pairs, as the corpus holds them."""
    pieces = []
    for user, copy in preferred:
        variables = conditioning_variables(prompt, [user])
        pieces += [
            (offer_context(variables), delexicalise(as_copy_json(copy, variables), variables))
        ] * PREFERRED_REPEATS
    return pieces


def as_copy_json(copy: str, variables: dict[str, str]) -> str:
    """A rated copy in the JSON form the model writes. Users rate the copy as shown (headline, body and call to
    action on their own lines); trained on as shown, the model would learn to answer those contexts with
    text that is no OfferCopy JSON. The tone is the segment's (what the rubric and the guardrails ask)."""
    try:
        parsed = json.loads(copy)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and {"headline", "body", "cta", "tone"} <= parsed.keys():
        return copy
    lines = [line.strip() for line in copy.splitlines() if line.strip()]
    if len(lines) < 3:  # no headline / body / call to action to tell apart: the whole copy is the body
        lines = ["", " ".join(lines), ""]
    fields = {"headline": lines[0], "body": " ".join(lines[1:-1]), "cta": lines[-1]}
    return json.dumps({**fields, "tone": TONE_BY_SEGMENT[variables["segment"]]}, ensure_ascii=False)


def train_generator(
    offers: pd.DataFrame,
    prompt: PromptSpec,
    out_dir: Path,
    config: CopyModelConfig = CopyModelConfig(),
    preferred: Sequence[tuple[str, str]] = (),
) -> TrainingReport:
    """Build the corpus from ``offers`` (plus the ``preferred`` (user message, copy) pairs users rated highest:
    supervised fine-tuning on chosen copies), train tokenizer and model, and write the model directory."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    try:
        return _train(offers, prompt, Path(out_dir), config, preferred_corpus(prompt, preferred))
    finally:
        torch.set_num_threads(threads)


def _train(
    offers: pd.DataFrame, prompt: PromptSpec, out_dir: Path, config: CopyModelConfig, extra: list[tuple[str, str]]
) -> TrainingReport:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    started = time.perf_counter()
    torch.manual_seed(config.seed)
    corpus = build_corpus(offers, config.copies_per_pair, config.seed) + extra
    tokenizer = train_tokenizer([f"{context} {copy}" for context, copy in corpus], config.vocab_size)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=config.n_positions,
            n_embd=config.n_embd,
            n_layer=config.n_layer,
            n_head=config.n_head,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    input_ids, labels = _encode_corpus(tokenizer, corpus, config.n_positions)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=config.steps)
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    loss = torch.tensor(float("nan"))
    for step in range(config.steps):
        batch = torch.randint(len(input_ids), (config.batch_size,), generator=generator)
        ids, target = _trim(input_ids[batch], labels[batch], tokenizer.pad_token_id)
        loss = model(input_ids=ids, attention_mask=(ids != tokenizer.pad_token_id).long(), labels=target).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 100 == 0:
            logger.info("generator step %d/%d loss %.3f", step, config.steps, loss.item())
    model.eval()
    report = TrainingReport(
        steps=config.steps,
        final_loss=float(loss.item()),
        seconds=round(time.perf_counter() - started, 2),
        n_parameters=sum(p.numel() for p in model.parameters()),
        corpus_size=len(corpus),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / PROMPT_FILE).write_text(prompt.model_dump_json(indent=2))
    (out_dir / META_FILE).write_text(json.dumps({"config": asdict(config), "training": asdict(report)}, indent=2))
    return report


def _encode_corpus(tokenizer, corpus: list[tuple[str, str]], max_len: int):
    """Right-padded token ids and labels (-100 on context and padding: the loss is on the copy only)."""
    import torch

    ids = torch.full((len(corpus), max_len), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    for row, (context, copy) in enumerate(corpus):
        prefix = tokenizer.encode(f"{BOS}{context}{SEP}")
        target = tokenizer.encode(copy) + [tokenizer.eos_token_id]
        sequence = (prefix + target)[:max_len]
        ids[row, : len(sequence)] = torch.tensor(sequence)
        labels[row, len(prefix) : len(sequence)] = torch.tensor(sequence[len(prefix) :])
    return ids, labels


def _trim(ids, labels, pad_id: int):
    """Cut the batch to its longest row: most rows are far shorter than ``n_positions``."""
    length = int((ids != pad_id).sum(dim=1).max())
    return ids[:, :length], labels[:, :length]
