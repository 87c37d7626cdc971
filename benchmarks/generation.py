"""Generation benchmark: offer copy for 200 customers from the local model served on KServe, against the
template generator (the baseline and safe fallback), in one run.

For each customer (segment and channel drawn with the population's segment shares) and an offer from the
synthetic catalogue, the copy pipeline (``CopyWriter``: OpenAI client → ``serving.generator`` → parse →
validate → guardrails → retries → fallback) writes the copy. Measured:
  - latency per copy (end to end through KServe, retries included) p50 / p99 at concurrency 1;
  - generated tokens per second at concurrency 1 and 8 (chat completions, the server batches concurrent ones);
  - valid-JSON rate of first attempts and after retries; guardrail pass rate of first attempts; share of
    copies that needed the fallback; faithfulness violations in the final copy (target 0);
  - variety: distinct-1 / distinct-2 over the bodies and self-BLEU (each body against all others; lower =
    more varied), for the model and the template baseline;
  - hostile input: a 100 KB template-shaped prompt sent to the server while a second client probes
    ``/v2/health/live`` (latency of the 400 answer and of the probes during it, targets < 100 ms / < 50 ms),
    and in-process the linear prompt parser on 100 KB against the backtracking regex it replaced (baseline)
    on far shorter text;
  - guardrails against an obedient backend: the red-team corpus (tests/generation/data/red_team.jsonl)
    through CopyWriter (leaks, target 0), the share of attack copies the guardrails flag on their own
    (block rate), and the false-positive rate on honest copy (target <= 1 %).

The model is trained first (full size, ``CopyModelConfig()``) on the catalogue, and its training time recorded.

    .venv/bin/python -m benchmarks.generation            # full run, recorded in BENCHMARKS.md
    .venv/bin/python -m benchmarks.generation --quick    # smoke run (test-size model, 20 customers), printed only
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sacrebleu.metrics import BLEU

from benchmarks.report import record
from loyaltylens.config import packaged_prompts_dir
from loyaltylens.generation.backends import OpenAIBackend
from loyaltylens.generation.corpus import synthetic_offers
from loyaltylens.generation.guardrails import check_copy, check_faithfulness
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.prompts import PromptSpec, load_prompt, offer_variables
from loyaltylens.generation.template import TemplateGenerator
from loyaltylens.generation.training import TEST_CONFIG, CopyModelConfig, train_generator
from loyaltylens.generation.writer import CopyResult, CopyWriter
from loyaltylens.retrieval.base import OfferHit
from loyaltylens.vocabulary import CHANNELS, SEGMENT_SHARES, SEGMENTS
from serving.generator.process import generator_process
from tests.generation.red_team import BASE_OFFER, ObedientBackend, legitimate_copies, red_team_cases, run_case

SERVED_NAME = "generator"
N_OFFERS = 200
TOKENS_REQUESTS = 64  # chat completions per concurrency level for tokens/s
REPEAT_REQUESTS, REPEAT_SAMPLES = 20, 10  # same-request variety: requests x samples each
HOSTILE_CHARS, HOSTILE_REQUESTS = 100_000, 20
BASELINE_REGEX_CHARS = 1_000  # the replaced regex parser's time grows exponentially with this


def customers(n: int, offers: list[OfferHit], seed: int) -> list[tuple[OfferHit, str, str]]:
    rng = np.random.default_rng(seed)
    segments = rng.choice(len(SEGMENTS), n, p=SEGMENT_SHARES)
    channels = rng.integers(0, len(CHANNELS), n)
    picks = rng.integers(0, len(offers), n)
    return [(offers[o], SEGMENTS[s], CHANNELS[c]) for o, s, c in zip(picks, segments, channels, strict=True)]


def offer_hits(seed: int) -> list[OfferHit]:
    return [
        OfferHit(
            int(r.offer_id), 1.0, r.title, r.category, float(r.discount_pct), r.channel, r.text, float(r.min_spend)
        )
        for r in synthetic_offers(N_OFFERS, seed).itertuples(index=False)
    ]


def variety(texts: list[str]) -> dict:
    """distinct-1/2 (unique n-grams / n-grams) and self-BLEU (mean BLEU of each text against all others)."""
    tokens = [t.lower().split() for t in texts]
    out = {}
    for n in (1, 2):
        grams = [tuple(words[i : i + n]) for words in tokens for i in range(len(words) - n + 1)]
        out[f"distinct_{n}"] = len(set(grams)) / max(1, len(grams))
    bleu = BLEU(effective_order=True)
    scores = [bleu.sentence_score(text, texts[:i] + texts[i + 1 :]).score for i, text in enumerate(texts)]
    out["self_bleu"] = float(np.mean(scores))
    return out


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def copy_quality(results: list[CopyResult], requests: list[tuple[OfferHit, str, str]]) -> dict:
    first = [r.attempts[0] for r in results]
    parsed_first = [a.kind not in ("parse", "schema", "backend") for a in first]
    parsed_any = [any(a.kind not in ("parse", "schema", "backend") for a in r.attempts) for r in results]
    guardrail_first = [a.error is None for a in first]
    faithfulness = sum(
        len(check_faithfulness(f"{r.copy.headline}\n{r.copy.body}\n{r.copy.cta}", offer_variables(*req)))
        for r, req in zip(results, requests, strict=True)
    )
    return {
        "valid_json_first_attempt": float(np.mean(parsed_first)),
        "valid_json_after_retries": float(np.mean(parsed_any)),
        "guardrail_pass_first_attempt": float(np.mean(guardrail_first)),
        "fallback_share": float(np.mean([r.source == "fallback" for r in results])),
        "mean_attempts": float(np.mean([len(r.attempts) for r in results])),
        "faithfulness_violations_in_output": faithfulness,
    }


def tokens_per_second(base_url: str, messages: list[list[dict]], concurrency: int) -> dict:
    from openai import OpenAI

    client = OpenAI(base_url=f"{base_url}/openai/v1", api_key="unused", timeout=60, max_retries=0)

    def ask(i: int) -> int:
        response = client.chat.completions.create(model=SERVED_NAME, messages=messages[i % len(messages)])
        return response.usage.completion_tokens

    ask(0)  # warm the connection
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        tokens = sum(pool.map(ask, range(TOKENS_REQUESTS)))
    elapsed = time.perf_counter() - started
    return {
        "tokens": tokens,
        "seconds": round(elapsed, 3),
        "tokens_per_s": tokens / elapsed,
        "copies_per_s": TOKENS_REQUESTS / elapsed,
    }


def repeat_variety(base_url: str, messages: list[list[dict]], samples: int) -> float:
    """Mean share of distinct bodies among ``samples`` answers to the same request (1/samples = always the same)."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{base_url}/openai/v1", api_key="unused", timeout=60, max_retries=0)
    shares = []
    for message in messages:
        bodies = set()
        for _ in range(samples):
            content = client.chat.completions.create(model=SERVED_NAME, messages=message).choices[0].message.content
            bodies.add(json.loads(content).get("body", content) if content.startswith("{") else content)
        shares.append(len(bodies) / samples)
    return float(np.mean(shares))


def hostile_prompt(prompt: PromptSpec, chars: int) -> str:
    """The user template's delimiters over and over, never closing: every lazy group of the old regex parser
    could end at any of them, so it tried them all (exponentially many) before failing."""
    literals = [literal for literal, _, _, _ in string.Formatter().parse(prompt.user.strip())]
    middle = "".join(literals[1:-1])
    return (literals[0] + middle * (chars // len(middle) + 1))[: chars - 1] + "!"


def hostile_latency(base_url: str, prompt: PromptSpec) -> dict:
    """Latency of the server's answer to a 100 KB hostile prompt, and of health probes sent meanwhile."""
    import httpx

    body = {"model": SERVED_NAME, "messages": [{"role": "user", "content": hostile_prompt(prompt, HOSTILE_CHARS)}]}
    answers, statuses, probes, stop, probing = [], set(), [], threading.Event(), threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                started = time.perf_counter()
                client.get(f"{base_url}/v2/health/live").raise_for_status()
                probes.append(time.perf_counter() - started)
                probing.set()
                time.sleep(0.005)

    prober = threading.Thread(target=probe, daemon=True)
    with httpx.Client(timeout=30) as client:
        client.get(f"{base_url}/v2/health/live")
        prober.start()
        probing.wait(30)  # the prober's first probe is in: the hostile requests overlap with probes
        for _ in range(HOSTILE_REQUESTS):
            started = time.perf_counter()
            statuses.add(client.post(f"{base_url}/openai/v1/chat/completions", json=body).status_code)
            answers.append(time.perf_counter() - started)
    stop.set()
    prober.join()
    probes = probes[1:]  # the first probe, before any hostile request, opened the connection
    return {
        "answer": percentiles(answers),
        "answer_statuses": sorted(statuses),
        "health_probes_during": {**percentiles(probes), "max_ms": max(probes) * 1e3, "n": len(probes)},
    }


def parser_baseline(prompt: PromptSpec) -> dict:
    """In-process: the linear parser on 100 KB vs the lazy-group regex it replaced on a few hundred chars."""
    pattern, seen = [], set()
    for literal, field, _, _ in string.Formatter().parse(prompt.user.strip()):
        pattern.append(re.escape(literal))
        if field is not None:
            pattern.append(f"(?P={field})" if field in seen else f"(?P<{field}>.*?)")
            seen.add(field)
    old = re.compile("".join(pattern), re.S)
    short, long = hostile_prompt(prompt, BASELINE_REGEX_CHARS), hostile_prompt(prompt, HOSTILE_CHARS)
    started = time.perf_counter()
    old.fullmatch(short)
    old_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(10):
        try:
            prompt.parse_user(long)
        except ValueError:
            pass
    new_s = (time.perf_counter() - started) / 10
    return {
        "regex_ms_at_chars": {"chars": BASELINE_REGEX_CHARS, "ms": old_s * 1e3},
        "linear_ms_at_chars": {"chars": HOSTILE_CHARS, "ms": new_s * 1e3},
    }


def red_team(prompt: PromptSpec) -> dict:
    """The red-team corpus through CopyWriter with an obedient backend, and honest copy through the checks."""
    cases = red_team_cases()
    outcomes = [run_case(case, prompt) for case in cases]
    clean = offer_variables(BASE_OFFER, "family", "mobile")
    direct = [c for c in cases if c["class"] != "offer_fields"]
    blocked = [bool(check_copy(OfferCopy(**ObedientBackend(c).copy), clean, c["private"])) for c in direct]
    honest = legitimate_copies()
    flagged = sum(bool(check_copy(copy, variables)) for copy, variables in honest)
    return {
        "cases": len(cases),
        "classes": len({c["class"] for c in cases}),
        "leaks": sum(o.leaked for o in outcomes),
        "refused_offers": sum(o.refused for o in outcomes),
        "block_rate": float(np.mean(blocked)),
        "honest_copies": len(honest),
        "false_positives": flagged,
        "false_positive_rate": flagged / len(honest),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Test-size model, 20 customers; print only.")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--model-dir", type=Path, help="Generator directory: reused if it holds a model, else trained into it."
    )
    args = parser.parse_args()
    n_customers = 20 if args.quick else args.customers
    prompt = load_prompt(packaged_prompts_dir(), "offer_copy")
    offers = offer_hits(args.seed)
    requests = customers(n_customers, offers, args.seed + 1)

    with tempfile.TemporaryDirectory(prefix="bench-generation-") as work:
        work = Path(work)
        model_dir, training = args.model_dir, None
        if model_dir is None or not (model_dir / "generator.json").is_file():
            model_dir = model_dir or work / "model"
            config = TEST_CONFIG if args.quick else CopyModelConfig()
            report = train_generator(synthetic_offers(N_OFFERS, args.seed), prompt, model_dir, config)
            training = {
                "seconds": report.seconds,
                "final_loss": report.final_loss,
                "parameters": report.n_parameters,
                "corpus": report.corpus_size,
                "steps": report.steps,
            }
            print(f"trained: {training}", file=sys.stderr)

        server = generator_process(model_dir, work / "server.log", SERVED_NAME)
        base = server.http_url
        with server.process:
            backend = OpenAIBackend(f"{base}/openai/v1", SERVED_NAME, timeout_s=30, max_retries=0)
            writer = CopyWriter(backend, prompt, max_retries=2)
            writer.write(*requests[0])  # warm-up
            results, latencies = [], []
            for request in requests:
                started = time.perf_counter()
                results.append(writer.write(*request))
                latencies.append(time.perf_counter() - started)
            messages = [prompt.render(offer_variables(*request)) for request in requests]
            throughput = {c: tokens_per_second(base, messages, c) for c in (1, 8)}
            repeated = repeat_variety(base, messages[:REPEAT_REQUESTS], REPEAT_SAMPLES)
            hostile = hostile_latency(base, prompt)

    template = TemplateGenerator(prompt)
    template_copies: list[OfferCopy] = []
    template_latencies = []
    for request in requests:
        started = time.perf_counter()
        template_copies.append(template.generate(*request))
        template_latencies.append(time.perf_counter() - started)
    template_guardrails = float(
        np.mean([not check_copy(c, offer_variables(*r)) for c, r in zip(template_copies, requests, strict=True)])
    )

    model_latency, template_latency = percentiles(latencies), percentiles(template_latencies)
    quality = copy_quality(results, requests)
    model_variety = variety([r.copy.body for r in results if r.source == "model"] or [""])
    template_variety = variety([c.body for c in template_copies])
    samples = [r.copy.model_dump() for r in results[:5]]
    parsing = parser_baseline(prompt)
    attacks = red_team(prompt)
    out = {
        "customers": n_customers,
        "training": training,
        "latency_per_copy_via_kserve": model_latency,
        "template_latency_per_copy": template_latency,
        "throughput": {f"concurrency_{c}": v for c, v in throughput.items()},
        "quality": quality,
        "template_guardrail_pass": template_guardrails,
        "variety": {"model": model_variety, "template": template_variety},
        "distinct_share_same_request": {"model": repeated, "template": 1 / REPEAT_SAMPLES},
        "hostile_prompt": hostile,
        "parser": parsing,
        "red_team": attacks,
        "samples": samples,
    }
    print(json.dumps(out, indent=2))
    if args.quick:
        return
    rows = [
        {
            "metric": "latency per copy p50 / p99 (ms)",
            "local model via KServe": f"{model_latency['p50_ms']:.0f} / {model_latency['p99_ms']:.0f}",
            "template baseline": f"{template_latency['p50_ms']:.3f} / {template_latency['p99_ms']:.3f}",
            "target": "p50 ≤ 250 ms",
        },
        {
            "metric": "tokens/s at concurrency 1 / 8",
            "local model via KServe": f"{throughput[1]['tokens_per_s']:.0f} / {throughput[8]['tokens_per_s']:.0f}",
            "template baseline": "–",
            "target": f"c8/c1 = {throughput[8]['tokens_per_s'] / throughput[1]['tokens_per_s']:.2f}×",
        },
        {
            "metric": "valid JSON, first attempt / after retries",
            "local model via KServe": (
                f"{quality['valid_json_first_attempt']:.1%} / {quality['valid_json_after_retries']:.1%}"
            ),
            "template baseline": "100% (no parsing)",
            "target": "≥ 99.5 % after",
        },
        {
            "metric": "guardrail pass, first attempt",
            "local model via KServe": f"{quality['guardrail_pass_first_attempt']:.1%}",
            "template baseline": f"{template_guardrails:.1%}",
            "target": "–",
        },
        {
            "metric": "copies needing the fallback",
            "local model via KServe": f"{quality['fallback_share']:.1%}",
            "template baseline": "–",
            "target": "–",
        },
        {
            "metric": "faithfulness violations in output",
            "local model via KServe": quality["faithfulness_violations_in_output"],
            "template baseline": "–",
            "target": "0",
        },
        {
            "metric": "distinct-1 / distinct-2 (bodies)",
            "local model via KServe": f"{model_variety['distinct_1']:.3f} / {model_variety['distinct_2']:.3f}",
            "template baseline": f"{template_variety['distinct_1']:.3f} / {template_variety['distinct_2']:.3f}",
            "target": "higher = more varied",
        },
        {
            "metric": f"distinct bodies in {REPEAT_SAMPLES} answers to one request",
            "local model via KServe": f"{repeated * REPEAT_SAMPLES:.1f}",
            "template baseline": "1 (deterministic)",
            "target": "varied",
        },
        {
            "metric": "self-BLEU (bodies)",
            "local model via KServe": f"{model_variety['self_bleu']:.1f}",
            "template baseline": f"{template_variety['self_bleu']:.1f}",
            "target": "lower = more varied",
        },
        {
            "metric": f"{HOSTILE_CHARS // 1000} KB hostile prompt: answer p50 / p99 (ms), status",
            "local model via KServe": (
                f"{hostile['answer']['p50_ms']:.1f} / {hostile['answer']['p99_ms']:.1f}, {hostile['answer_statuses']}"
            ),
            "template baseline": "–",
            "target": "< 100 ms",
        },
        {
            "metric": "health probe during it: p99 / max (ms)",
            "local model via KServe": (
                f"{hostile['health_probes_during']['p99_ms']:.1f} / {hostile['health_probes_during']['max_ms']:.1f}"
            ),
            "template baseline": "–",
            "target": "< 50 ms",
        },
        {
            "metric": "prompt parser in-process (ms at chars)",
            "local model via KServe": (f"linear: {parsing['linear_ms_at_chars']['ms']:.2f} at {HOSTILE_CHARS:,}"),
            "template baseline": (f"old regex: {parsing['regex_ms_at_chars']['ms']:.0f} at {BASELINE_REGEX_CHARS:,}"),
            "target": "linear",
        },
        {
            "metric": f"red team ({attacks['cases']} cases, {attacks['classes']} classes), obedient backend: leaks",
            "local model via KServe": attacks["leaks"],
            "template baseline": "–",
            "target": "0",
        },
        {
            "metric": "guardrail block rate on attack copy / false-positive rate on honest copy",
            "local model via KServe": (
                f"{attacks['block_rate']:.1%} / {attacks['false_positive_rate']:.2%} "
                f"({attacks['false_positives']} of {attacks['honest_copies']})"
            ),
            "template baseline": "–",
            "target": "100 % / ≤ 1 %",
        },
    ]
    trained = (
        f" Model trained in {training['seconds']:.0f} s ({training['parameters']:,} parameters, "
        f"{training['steps']} steps)."
        if training
        else ""
    )
    notes = (
        f"{n_customers} customers (segment by the population's shares, channel uniform, offer uniform over a "
        f"{N_OFFERS}-offer synthetic catalogue); copy through CopyWriter → openai client → serving.generator, at most "
        "2 retries then the template fallback. Template baseline: TemplateGenerator in-process (no model, no network). "
        f"Hostile prompt: {HOSTILE_REQUESTS} sequential requests of {HOSTILE_CHARS:,} characters shaped like the user "
        "template while another client probes /v2/health/live every 5 ms; the old regex baseline is timed in-process "
        f"on only {BASELINE_REGEX_CHARS:,} characters (its time grows exponentially). Honest copy for the "
        "false-positive rate: template and phrase-bank copy for every offer x segment x channel of a 30-offer "
        "catalogue. The machine was shared with other sessions while measuring." + trained
    )
    record("generation", "Generation: local copy model on KServe vs the template generator", out, rows, notes)


if __name__ == "__main__":
    main()
