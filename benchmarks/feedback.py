"""Feedback benchmark: sustained rating writes per second, latency and lost writes with 8 clients.

Targets, each the real service process (``python -m serving.feedback``) on loopback:
  - SQLite (WAL, synchronous=FULL) with group commit: the default store
  - SQLite committing each write alone (``feedback_sqlite_max_batch=1``): the baseline group commit beats
  - the embedded Postgres 16 (pgserver, unix socket): the cluster's store kind

Eight writers (asyncio + aiohttp keep-alive connections, one process) each keep one rating in flight, every
rating with its own idempotency key; a write counts once the service answered 201 (committed). Afterwards
the store is read back: an acknowledged key missing from it is a lost write.
Target: >= 1,000 writes/s, p99 <= 20 ms, 0 lost.

    .venv/bin/python -m benchmarks.feedback            # full run, recorded in BENCHMARKS.md
    .venv/bin/python -m benchmarks.feedback --quick    # smoke run, printed only
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import numpy as np
import pandas as pd
import psutil

from benchmarks.report import ROOT, record
from benchmarks.serving import LoadBudget, run_load
from loyaltylens.config import Settings
from loyaltylens.feedback.models import FeedbackIn, GeneratedOffer
from loyaltylens.feedback.process import feedback_process
from loyaltylens.feedback.quality import recent_quality
from loyaltylens.feedback.simulator import CopyToRate, simulate_ratings
from loyaltylens.feedback.store import open_feedback_store
from loyaltylens.feedback.triggers import retraining_decision
from loyaltylens.generation.backends import LocalBackend
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.prompts import load_prompt, offer_variables
from loyaltylens.generation.template import TemplateGenerator
from loyaltylens.generation.training import CopyModelConfig, train_generator
from loyaltylens.generation.writer import CopyRejected, parse_copy
from loyaltylens.local.launcher import LOOPBACK, free_port
from loyaltylens.local.postgres import embedded_postgres_url, stop_embedded_postgres
from loyaltylens.retraining.loop import preferred_copies
from loyaltylens.retrieval.base import OfferHit

WRITERS = 8
LOOP_START = datetime(2026, 11, 1, tzinfo=UTC)
FULL = LoadBudget(requests=15_000, max_seconds=15.0, warmup_requests=300)
QUICK = LoadBudget(requests=1_000, max_seconds=3.0, warmup_requests=50)
TEMPLATE = FeedbackIn(
    idempotency_key="KEY",
    decision_id="bench-decision",
    offer_id=3,
    customer_id=7,
    prompt_version="offer-copy/v1",
    generator_version="loyaltylens-generator/1",
    copy_text="20% off milk, yoghurt and cheese in the app: your dairy for less this week.",
    stars=4,
    thumb="up",
    rated_at=datetime(2026, 12, 1, 12, tzinfo=UTC),
).model_dump_json()


def _body(key: str) -> bytes:
    return TEMPLATE.replace('"KEY"', f'"{key}"', 1).encode()


async def _load(url: str, budget: LoadBudget) -> tuple[dict, list[str]]:
    """``run_load`` over fresh idempotency keys (warm-up writes included in the lost-write check)."""
    acknowledged: list[str] = []
    keys = itertools.count()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=WRITERS)) as session:

        async def send(_: int) -> None:
            key = f"bench-{next(keys)}"
            async with session.post(url, data=_body(key), headers={"content-type": "application/json"}) as reply:
                await reply.read()
                if reply.status != 201:
                    raise RuntimeError(f"{url} answered {reply.status}: {await reply.text()}")
            acknowledged.append(key)

        cell = await run_load(send, WRITERS, budget)
    return cell, acknowledged


def bench_target(name: str, env: dict[str, str], settings: Settings, workdir: Path, budget: LoadBudget) -> dict:
    port = free_port()
    with feedback_process(port, workdir / f"{name}.log", env=env) as server:
        process = psutil.Process(server.pid)
        cpu_before = sum(process.cpu_times()[:2])
        cell, acknowledged = asyncio.run(_load(f"http://{LOOPBACK}:{port}/v1/feedback", budget))
        # CPU the server spent per write: what the machine's load cannot change (the rate it caps at per core)
        cell["server_cpu_ms_per_write"] = (sum(process.cpu_times()[:2]) - cpu_before) * 1e3 / len(acknowledged)
    with open_feedback_store(settings) as store:
        stored = set(store.feedback_frame()["idempotency_key"])
    cell["acknowledged"] = len(acknowledged)
    cell["lost"] = len(set(acknowledged) - stored)
    print(f"{name}: {cell}")
    return cell


# --- the loop: simulated ratings of real copy, a planted drop, the trigger, retraining, the week after ---------
LOOP_OFFERS = [
    OfferHit(1, 1.0, "Dairy deal", "dairy", 20.0, "mobile", "20% off milk, yoghurt and cheese in the app.", 0.0),
    OfferHit(2, 1.0, "Bakery week", "bakery", 15.0, "in_store", "15% off sourdough loaves in store.", 10.0),
    OfferHit(3, 1.0, "Drinks deal", "beverages", 10.0, "web", "10% off coffee beans and sparkling water.", 0.0),
]
SEGMENTS = ["budget", "premium", "family", "horeca"]
DRIFTED_SHARE = 0.6  # generator v2 overstates the discount by 25 points in this share of its copy
LOOP_DAYS = 7


def _audience(n: int, rng) -> list[tuple[OfferHit, str]]:
    """One day's ``n`` (offer, segment) pairs: the offers in turn, a random segment each."""
    return [(LOOP_OFFERS[i % len(LOOP_OFFERS)], SEGMENTS[rng.integers(len(SEGMENTS))]) for i in range(n)]


def _to_rate(generator: str, day: int, prompt, pairs, copies: list[OfferCopy]) -> list[CopyToRate]:
    """The day's copies as the audience sees them (headline, body, call to action on their own lines)."""
    items = []
    for i, ((offer, segment), copy) in enumerate(zip(pairs, copies, strict=True)):
        variables = offer_variables(offer, segment, offer.channel)
        offer_record = GeneratedOffer(
            decision_id=f"{generator}-{day}-{i}",
            offer_id=offer.offer_id,
            customer_id=i,
            prompt_version=prompt.ref,
            generator_version=generator,
            prompt=prompt.render(variables)[1]["content"],
            copy_text=f"{copy.headline}\n{copy.body}\n{copy.cta}",
            created_at=LOOP_START + timedelta(days=day),
        )
        items.append(CopyToRate(offer_record, variables, copy.tone))
    return items


def _overstated(copy: OfferCopy, offer: OfferHit) -> OfferCopy:
    wrong = f"{offer.discount_pct + 25:g}%"
    fields = {f: getattr(copy, f).replace(f"{offer.discount_pct:g}%", wrong) for f in ("headline", "body", "cta")}
    return copy.model_copy(update=fields)


def _rate_day(store, items: list[CopyToRate], day: int, rng) -> None:
    for item in items:
        store.add_offer(item.offer)
    for rating in simulate_ratings(items, LOOP_START + timedelta(days=day, hours=12), rng):
        store.add_feedback(rating)


def _model_copies(backend: LocalBackend, prompt, pairs, fallback: TemplateGenerator, seed: int):
    """The fine-tuned model's copy for ``pairs`` (one batch), as the copy writer would use it: an answer that is
    no OfferCopy JSON is replaced by the template fallback (counted). The guardrails are not applied, as they
    were not to generator v2: the audience rates what the model writes."""
    variables = [offer_variables(offer, segment, offer.channel) for offer, segment in pairs]
    copies, fallbacks = [], 0
    for (offer, segment), raw in zip(pairs, backend.complete_batch(variables, prompt.parameters, seed), strict=True):
        try:
            copies.append(parse_copy(raw))
        except CopyRejected:
            copies.append(fallback.generate(offer, segment, offer.channel))
            fallbacks += 1
    return copies, fallbacks


def _retrained_week(settings: Settings, backend: LocalBackend, generator: str, prompt, template, n: int) -> int:
    """Days 15-21 rated in ``settings``' store with ``backend``'s copy; returns how many answers fell back.
    The audience's draws are seeded apart from the first 14 days, so every arm meets the same customers."""
    rng, fallbacks = np.random.default_rng(2815), 0
    with open_feedback_store(settings) as store:
        for day in range(2 * LOOP_DAYS, 3 * LOOP_DAYS):
            pairs = _audience(n, rng)
            copies, fell_back = _model_copies(backend, prompt, pairs, template, seed=day)
            fallbacks += fell_back
            _rate_day(store, _to_rate(generator, day, prompt, pairs, copies), day, rng)
    return fallbacks


def _quality_rows(settings: Settings, phase: str, day: int, source: dict[str, str]) -> list[dict]:
    quality = recent_quality(settings, LOOP_START + timedelta(days=day))
    decision = retraining_decision(quality, drift_says_retrain=False, new_labelled_campaigns=0, settings=settings)
    return [
        {
            "phase": phase,
            "generator": row.generator_version,
            "copy": source[row.generator_version],
            "mean stars": row.mean_stars,
            "thumbs-up rate": row.thumbs_up_rate,
            "star ratings": int(row.star_ratings),
            "thumb ratings": int(row.thumb_ratings),
            "retrain?": "yes: " + "; ".join(decision.reasons) if decision.retrain else "no",
        }
        for row in quality.itertuples(index=False)
    ]


def run_loop(workdir: Path, ratings_per_day: int, config: CopyModelConfig) -> tuple[list[dict], dict]:
    """7 days of faithful template copy (generator v1); 7 days of a generator (v2) that overstates the discount
    in 60 % of its copy; then the retraining step: the local copy generator trained with the copies users rated
    highest (``preferred_copies``, supervised on chosen copies, as the retraining pipeline's train_generator
    task does) and 7 days of its copy, next to a control trained without them. Returns the 7-day quality and
    trigger rows, and the retraining's facts."""
    rng = np.random.default_rng(28)
    settings = Settings(data_dir=workdir / "loop")
    prompt = load_prompt(ROOT / "prompts", "offer_copy")
    template = TemplateGenerator(prompt)
    source = {"generator-v1": "template", "generator-v2": f"template, {DRIFTED_SHARE:.0%} overstated"}
    with open_feedback_store(settings) as store:
        for day in range(2 * LOOP_DAYS):
            generator, drifted = ("generator-v1", 0.0) if day < LOOP_DAYS else ("generator-v2", DRIFTED_SHARE)
            pairs = _audience(ratings_per_day, rng)
            copies = [template.generate(offer, segment, offer.channel) for offer, segment in pairs]
            copies = [
                _overstated(copy, offer) if rng.random() < drifted else copy
                for copy, (offer, _) in zip(copies, pairs, strict=True)
            ]
            _rate_day(store, _to_rate(generator, day, prompt, pairs, copies), day, rng)
    rows = _quality_rows(settings, "before the drop (days 1-7)", LOOP_DAYS, source)
    rows += _quality_rows(settings, "after the drop (days 8-14)", 2 * LOOP_DAYS, source)

    preferred = preferred_copies(settings)
    offers = pd.DataFrame([dataclasses.asdict(offer) for offer in LOOP_OFFERS]).drop(columns="score")
    facts: dict = {"preferred_copies": len(preferred), "config": dataclasses.asdict(config)}
    # The control arm: the same training without the feedback, rated by the same audience (same draws) in a
    # store of its own, so the trigger row sees the retrained generator alone; the difference is the feedback's.
    arms = [("generator-v3", settings, preferred), ("generator-v3-control", Settings(data_dir=workdir / "control"), [])]
    for generator, arm_settings, arm_preferred in arms:
        report = train_generator(offers, prompt, workdir / generator, config, preferred=arm_preferred)
        backend = LocalBackend(workdir / generator)
        fallbacks = _retrained_week(arm_settings, backend, generator, prompt, template, ratings_per_day)
        valid = 1 - fallbacks / (LOOP_DAYS * ratings_per_day)
        source[generator] = (
            f"the local model retrained with the {len(arm_preferred)} top-rated copies"
            if arm_preferred
            else "control: the local model retrained without the feedback"
        ) + f"; {valid:.1%} of its answers valid OfferCopy (the rest: the template fallback)"
        phase = "after retraining (days 15-21)" if arm_preferred else "control, no feedback (days 15-21)"
        rows += _quality_rows(arm_settings, phase, 3 * LOOP_DAYS, source)
        facts[generator] = {"training": dataclasses.asdict(report), "template_fallbacks": fallbacks}
    return rows, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer writes; print only, record nothing")
    args = parser.parse_args()
    budget = QUICK if args.quick else FULL
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="loyaltylens-bench-feedback-"))
    results = {}
    try:
        for name, extra in [("SQLite, group commit", {}), ("SQLite, one commit per write", {"max_batch": "1"})]:
            data_dir = workdir / name.split(",")[1].strip().replace(" ", "-")
            env = {"LOYALTYLENS_DATA_DIR": str(data_dir)}
            if extra:
                env["LOYALTYLENS_FEEDBACK_SQLITE_MAX_BATCH"] = extra["max_batch"]
            settings = Settings(data_dir=data_dir)
            results[name] = bench_target(name, env, settings, workdir, budget)
        pgdata = workdir / "postgres"
        url = embedded_postgres_url(pgdata)
        try:
            env = {
                "LOYALTYLENS_DATA_DIR": str(workdir / "pg"),
                "LOYALTYLENS_FEEDBACK_STORE": "postgres",
                "LOYALTYLENS_POSTGRES_URL": url,
            }
            settings = Settings(data_dir=workdir / "pg", feedback_store="postgres", postgres_url=url)
            results["Postgres 16 (embedded)"] = bench_target("postgres", env, settings, workdir, budget)
        finally:
            stop_embedded_postgres(pgdata)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    default, baseline = results["SQLite, group commit"], results["SQLite, one commit per write"]
    checks = {
        "SQLite group commit >= 1,000 writes/s": default["req_per_s"] >= 1000,
        "SQLite group commit p99 <= 20 ms": default["p99_ms"] <= 20,
        "0 lost (every target)": all(cell["lost"] == 0 for cell in results.values()),
    }
    rows = [
        {
            "store": name,
            "writes/s": cell["req_per_s"],
            "p50 ms": cell["p50_ms"],
            "p99 ms": cell["p99_ms"],
            "acknowledged": cell["acknowledged"],
            "lost": cell["lost"],
            "server CPU ms/write": cell["server_cpu_ms_per_write"],
            "writes/s vs one commit per write": cell["req_per_s"] / baseline["req_per_s"],
        }
        for name, cell in results.items()
    ]
    notes = (
        "Targets: "
        + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks.items())
        + f". {WRITERS} writers, {budget.requests} writes or {budget.max_seconds:.0f} s per store after "
        f"{budget.warmup_requests} warm-up writes; the load generator shares the machine's CPUs with the server. "
        f"1-minute load average before the run: {load_before:.1f} on {os.cpu_count()} CPUs (the machine is "
        "shared: under other work writes/s is what was left of it; the server's CPU per write bounds what one "
        "free core would sustain: 1000 / that figure)."
    )
    print(notes)
    if args.quick:
        return
    path = record(
        name="feedback",
        title="Feedback: rating writes with 8 clients (SQLite group commit vs one commit per write, Postgres)",
        results={
            "budget": budget.__dict__,
            "writers": WRITERS,
            "load_average_before": load_before,
            "targets": results,
            "checks": checks,
        },
        rows=rows,
        notes=notes,
    )
    print(f"recorded {path}")
    record_loop()


def record_loop() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="loyaltylens-bench-loop-"))
    load_before = os.getloadavg()[0]
    try:
        loop_rows, facts = run_loop(workdir, 200, CopyModelConfig())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for row in loop_rows:
        print(row)
    training = facts["generator-v3"]["training"]
    path = record(
        name="feedback_loop",
        title="Feedback loop: simulated copy quality before and after a planted drop, after retraining, and the "
        "retraining trigger",
        results={"rows": loop_rows, "retraining": facts, "load_average_before": load_before},
        rows=loop_rows,
        notes="200 simulated ratings a day (loyaltylens.feedback.simulator) of copy for 3 offers x 4 segments: the "
        "template generator's for days 1-7; from day 8 a generator that overstates the discount by 25 points in "
        "60 % of its copy. At the end of day 14 the retraining step runs as a library call (not the KFP pipeline): "
        "loyaltylens.retraining.loop.preferred_copies from the store, then "
        "loyaltylens.generation.training.train_generator on the 3 offers' corpus plus those copies (what the "
        f"retraining pipeline's train_generator task runs; {training['steps']} steps, {training['corpus_size']} "
        f"corpus pieces, {training['seconds']:.0f} s on 1 thread), and days 15-21 rate that model's copy "
        "(sampled at the prompt's temperature, no guardrails, as for the drifted generator). The control is the "
        "same training without the feedback, rated by the same draws of the audience in a store of its own: the "
        "local model fills every number and product from the offer, so the recovery can be the model's rather "
        "than the feedback's: the difference to the control is the feedback's share. Quality: "
        "loyaltylens.feedback.quality.recent_quality (7 days to the end of each phase); trigger: "
        "loyaltylens.feedback.triggers.retraining_decision with the default thresholds. "
        f"1-minute load average before: {load_before:.1f} on {os.cpu_count()} CPUs.",
        script="feedback",
    )
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
