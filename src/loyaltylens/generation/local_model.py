"""The local copy model: a small GPT-2-style causal LM with its own BPE tokenizer, trained from scratch.

Training data comes from the offer catalogue: for every offer, customer segment and channel the corpus
holds several pieces of copy written from varied phrase banks (headlines, openers, segment lines, calls
to action, each segment with its tone). The copy is *delexicalised*: offer facts appear as slot tokens
(``[pct]``, ``[spend]``, ``[product]``, ``[Product]``, ``[label]``), which the model learns to place and
:func:`fill_slots` replaces with the offer's own values. So the model decides wording and structure, and
every number and product name in its output comes from the offer by construction (the guardrails still
check it: a model trained on other data, or the ``hf`` / ``openai`` backends, have no such guarantee).

One training sequence is ``<bos> context <sep> {"headline": ..., "body": ..., "cta": ..., "tone": ...} <eos>``
where the context names the segment, channel, category and whether a minimum spend applies; the loss is on
the copy only. The model directory is a Hugging Face ``save_pretrained`` directory (so the ``hf`` backend and
KServe's Hugging Face runtime can load it too) plus ``generator.json`` and the prompt it answers.

References: Radford et al. 2019 (GPT-2); Wen et al. 2015 (delexicalised NLG for dialogue systems).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from loyaltylens.config import setting_default
from loyaltylens.data.offers import CATEGORY_COPY
from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.generation.prompts import PromptSpec, read_prompt_file
from loyaltylens.vocabulary import CHANNELS, SEGMENTS

logger = logging.getLogger(__name__)

BOS, SEP, EOS, PAD = "<bos>", "<sep>", "<eos>", "<pad>"
SLOTS = ("[pct]", "[spend]", "[product]", "[Product]", "[label]")
META_FILE = "generator.json"
PROMPT_FILE = "prompt.yaml"

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


@dataclass(frozen=True)
class GeneratorConfig:
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


TEST_CONFIG = GeneratorConfig(n_layer=1, n_head=2, n_embd=64, vocab_size=600, copies_per_pair=1, steps=200)


# --- corpus ----------------------------------------------------------------------------------------------
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


# --- tokenizer and model ---------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class TrainingReport:
    steps: int
    final_loss: float
    seconds: float
    n_parameters: int
    corpus_size: int


def train_generator(
    offers: pd.DataFrame, prompt: PromptSpec, out_dir: Path, config: GeneratorConfig = GeneratorConfig()
) -> TrainingReport:
    """Build the corpus from ``offers``, train tokenizer and model, and write the model directory."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    try:
        return _train(offers, prompt, Path(out_dir), config)
    finally:
        torch.set_num_threads(threads)


def _train(offers: pd.DataFrame, prompt: PromptSpec, out_dir: Path, config: GeneratorConfig) -> TrainingReport:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    started = time.perf_counter()
    torch.manual_seed(config.seed)
    corpus = build_corpus(offers, config.copies_per_pair, config.seed)
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


# --- inference -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int  # generated tokens (copy length before slot filling)


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

    def generate(
        self, variables: Sequence[dict[str, str]], temperature: float = 0.8, top_p: float = 0.95
    ) -> list[Completion]:
        """One piece of copy (JSON text, slots filled) per entry of ``variables``, generated as one batch."""
        prompts = [f"{BOS}{offer_context(v)}{SEP}" for v in variables]
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True)
        with self._torch.inference_mode():
            output = self.model.generate(**encoded, **self._sampling(temperature, top_p))
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        results = []
        for row, values in zip(new_tokens, variables, strict=True):
            tokens = [t for t in row.tolist() if t not in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id)]
            results.append(Completion(fill_slots(self.tokenizer.decode(tokens), values), len(tokens)))
        return results

    def stream(self, values: dict[str, str], temperature: float = 0.8, top_p: float = 0.95) -> Iterator[str]:
        """The copy for one entry as text pieces, as they are generated (slots filled per piece)."""
        from transformers import TextIteratorStreamer

        encoded = self.tokenizer([f"{BOS}{offer_context(values)}{SEP}"], return_tensors="pt")
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)

        def run() -> None:
            with self._torch.inference_mode():
                self.model.generate(**encoded, streamer=streamer, **self._sampling(temperature, top_p))

        worker = threading.Thread(target=run, name="generator-stream", daemon=True)
        worker.start()
        for piece in streamer:
            if piece:
                yield fill_slots(piece, values)
        worker.join()

    def _sampling(self, temperature: float, top_p: float) -> dict:
        if temperature <= 0:
            return {"do_sample": False, "max_new_tokens": self.max_new_tokens, **self._ids()}
        return {
            "do_sample": True,
            "temperature": temperature,
            "top_p": top_p,
            "top_k": 0,
            "max_new_tokens": self.max_new_tokens,
            **self._ids(),
        }

    def _ids(self) -> dict:
        return {"eos_token_id": self.tokenizer.eos_token_id, "pad_token_id": self.tokenizer.pad_token_id}
