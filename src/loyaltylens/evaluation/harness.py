"""Run the eval set through a prompt version and a generator version, aggregate, gate, log, report.

The aggregate is the weighted mean of the metric means (:data:`DEFAULT_WEIGHTS`, overridable per prompt in
``eval.weights``); the gate passes when the aggregate reaches ``eval.thresholds.aggregate`` and every other
``eval.thresholds.<metric>`` (a minimum of that metric's mean) is met. Each run is one MLflow run in the
``loyaltylens-eval`` experiment with tags :data:`EVAL_TAGS` (the dashboard reads them), the per-case table as
``cases.json`` and the report as ``eval.json`` + ``eval.html``.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from loyaltylens.config import Settings, get_settings
from loyaltylens.evaluation.evalset import EVAL_SET_VERSION, EvalCase, build_eval_set, eval_set_hash
from loyaltylens.evaluation.scoring import Judge, llm_judge, rubric_judge, score_case
from loyaltylens.generation.prompts import PromptSpec, offer_variables
from loyaltylens.generation.template import TemplateGenerator
from loyaltylens.registry.tracking import registry_client

EVAL_EXPERIMENT = "loyaltylens-eval"
DEFAULT_WEIGHTS = {
    "bleu": 0.05, "rouge_l": 0.1, "valid_json": 0.15, "guardrails": 0.25, "faithfulness": 0.2, "judge": 0.2,
    "brand": 0.05,
}  # fmt: skip
DEFAULT_CRITERIA = ("faithfulness", "relevance", "tone", "cta_present")
EVAL_TAGS = {
    "kind": "loyaltylens.run_kind",  # "prompt-eval"
    "prompt": "loyaltylens.eval.prompt",  # name@semver
    "generator": "loyaltylens.eval.generator",
    "eval_set": "loyaltylens.eval.eval_set",  # version:hash
    "passed": "loyaltylens.eval.passed",  # "true" | "false"
    "reasons": "loyaltylens.eval.reasons",  # why the gate failed, "; "-joined
    "judge": "loyaltylens.eval.judge",  # "rubric" | "llm:<model>"
}
RUN_KIND = "prompt-eval"
Generate = Callable[[list[EvalCase]], list[str]]  # eval cases -> the generator's raw answer to each
BATCH_SIZE = 16  # cases per forward pass of a batching backend (bounds its memory, not its answers)


@dataclass
class EvalResult:
    prompt: str
    generator: str
    eval_set: str
    judge: str
    means: dict[str, float]
    aggregate: float
    passed: bool
    reasons: list[str]
    seconds: float
    cases: list[dict] = field(repr=False, default_factory=list)
    run_id: str | None = None


def template_generator(prompt: PromptSpec) -> Generate:
    """The prompt's own template generator (deterministic), answering JSON like a model would."""
    generator = TemplateGenerator(prompt)
    return lambda cases: [generator.generate(c.offer, c.segment, c.channel).model_dump_json() for c in cases]


def backend_generator(prompt: PromptSpec, backend, seed: int = 0) -> Generate:
    """A :class:`loyaltylens.generation.backends.CopyBackend` under ``prompt``: its first answer, no retries
    (the harness measures the generator, not the writer's fallback). A backend with ``complete_batch`` (the
    in-process local model) answers :data:`BATCH_SIZE` cases per forward pass, sampled from ``seed`` so an eval
    run is reproducible and two versions are compared on the same random draws."""

    def generate(cases: list[EvalCase]) -> list[str]:
        variables = [offer_variables(case.offer, case.segment, case.channel) for case in cases]
        if hasattr(backend, "complete_batch"):
            return [
                answer
                for start in range(0, len(variables), BATCH_SIZE)
                for answer in backend.complete_batch(
                    variables[start : start + BATCH_SIZE], prompt.parameters, seed=seed + start
                )
            ]
        return [backend.complete(prompt.render(values), values, prompt.parameters) for values in variables]

    return generate


def default_judge(settings: Settings) -> tuple[Judge, str]:
    if settings.judge_base_url:
        return llm_judge(settings.judge_base_url, settings.judge_model, settings.openai_timeout_s), (
            f"llm:{settings.judge_model}"
        )
    return rubric_judge, "rubric"


def evaluate_prompt(
    prompt: PromptSpec,
    generate: Generate,
    generator_name: str,
    cases: list[EvalCase] | None = None,
    judge: tuple[Judge, str] = (rubric_judge, "rubric"),
    brand_scorer=None,
) -> EvalResult:
    """Score every case and gate the result by ``prompt.eval``."""
    started = time.perf_counter()
    cases = cases if cases is not None else build_eval_set()
    criteria = prompt.eval.get("criteria", DEFAULT_CRITERIA)
    answers = generate(cases)
    rows = [
        score_case(case, answer, criteria, judge[0], brand_scorer) for case, answer in zip(cases, answers, strict=True)
    ]
    metrics = [key for key in DEFAULT_WEIGHTS if key in rows[0]]
    means = {key: sum(row[key] for row in rows) / len(rows) for key in metrics}
    weights = {key: float(prompt.eval.get("weights", {}).get(key, DEFAULT_WEIGHTS[key])) for key in metrics}
    aggregate = sum(weights[key] * means[key] for key in metrics) / sum(weights.values())
    for row in rows:  # the same weighted mean per case (their mean is ``aggregate``): paired comparisons use it
        row["aggregate"] = sum(weights[key] * row[key] for key in metrics) / sum(weights.values())
    reasons = gate_reasons(prompt, means, aggregate)
    return EvalResult(
        prompt=prompt.ref, generator=generator_name, eval_set=f"{EVAL_SET_VERSION}:{eval_set_hash(cases)}",
        judge=judge[1], means=means, aggregate=aggregate, passed=not reasons, reasons=reasons,
        seconds=time.perf_counter() - started, cases=rows,
    )  # fmt: skip


def gate_reasons(prompt: PromptSpec, means: dict[str, float], aggregate: float) -> list[str]:
    """Why ``prompt``'s thresholds are not met (empty: the gate passes)."""
    thresholds = prompt.eval.get("thresholds", {})
    reasons = []
    if aggregate < float(thresholds.get("aggregate", 0.0)):
        reasons.append(f"aggregate {aggregate:.3f} < {float(thresholds['aggregate']):.3f}")
    for metric, minimum in thresholds.items():
        if metric != "aggregate" and metric in means and means[metric] < float(minimum):
            reasons.append(f"{metric} {means[metric]:.3f} < {float(minimum):.3f}")
    return reasons


def log_eval(result: EvalResult, tracking_uri: str, out_dir: Path) -> EvalResult:
    """Write ``eval.json`` + ``eval.html`` into ``out_dir`` and log the run (metrics, tags, files) to MLflow."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(asdict(result), indent=2, default=str))
    (out_dir / "eval.html").write_text(render_html(result))
    client = registry_client(tracking_uri)
    experiment = client.get_experiment_by_name(EVAL_EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(EVAL_EXPERIMENT)
    tags = {
        EVAL_TAGS["kind"]: RUN_KIND, EVAL_TAGS["prompt"]: result.prompt, EVAL_TAGS["generator"]: result.generator,
        EVAL_TAGS["eval_set"]: result.eval_set, EVAL_TAGS["passed"]: str(result.passed).lower(),
        EVAL_TAGS["reasons"]: "; ".join(result.reasons), EVAL_TAGS["judge"]: result.judge,
    }  # fmt: skip
    run = client.create_run(experiment_id, run_name=f"eval {result.prompt} x {result.generator}", tags=tags)
    for key, value in {**{f"mean_{k}": v for k, v in result.means.items()}, "aggregate": result.aggregate,
                       "seconds": result.seconds, "n_cases": len(result.cases)}.items():  # fmt: skip
        client.log_metric(run.info.run_id, key, float(value))
    client.log_dict(run.info.run_id, result.cases, "cases.json")
    client.log_artifact(run.info.run_id, str(out_dir / "eval.html"))
    client.set_terminated(run.info.run_id)
    result.run_id = run.info.run_id
    return result


def render_html(result: EvalResult) -> str:
    import pandas as pd

    verdict = "PASSED" if result.passed else "FAILED: " + "; ".join(result.reasons)
    summary = "".join(f"<li>{html.escape(k)}: {v:.3f}</li>" for k, v in result.means.items())
    return (
        f"<html><head><meta charset='utf-8'><title>eval {html.escape(result.prompt)}</title></head><body>"
        f"<h1>{html.escape(result.prompt)} × {html.escape(result.generator)}</h1>"
        f"<p>eval set {html.escape(result.eval_set)}, judge {html.escape(result.judge)}; aggregate "
        f"{result.aggregate:.3f}: <b>{html.escape(verdict)}</b></p><ul>{summary}</ul>"
        + pd.DataFrame(result.cases).to_html(index=False, float_format="%.3f")  # escapes cell text
        + "</body></html>"
    )


def run_eval(
    prompt_ref: str | None = None, generator: str = "template", settings: Settings | None = None,
    out_dir: Path | None = None, brand_scorer=None,
) -> EvalResult:  # fmt: skip
    """The CLI's and the pipeline's entry: ``prompt_ref`` (semver or alias of ``offer_copy``; default the
    production version) from the MLflow prompt registry × ``generator`` ("template", or "backend" for the
    configured copy backend), logged to MLflow and written to ``out_dir`` (default data_dir/eval). The CLIP brand
    metric is scored when ``settings.clip_weights_path`` is set (or a ``brand_scorer`` is given)."""
    from loyaltylens.generation.registry import PromptRegistry

    settings = settings or get_settings()
    prompt = PromptRegistry.from_settings(settings).get("offer_copy", prompt_ref).spec
    if generator == "template":
        generate = template_generator(prompt)
    else:
        from loyaltylens.generation.backends import backend_from_settings

        backend = backend_from_settings(settings)
        generate = backend_generator(prompt, backend, settings.seed)
        generator = f"{backend.name}:{settings.generator_model_uri}"
    if brand_scorer is None and settings.clip_weights_path is not None:  # the brand metric needs CLIP weights
        from loyaltylens.generation.brand import BrandImageScorer

        brand_scorer = BrandImageScorer.from_settings(settings)
    result = evaluate_prompt(prompt, generate, generator, judge=default_judge(settings), brand_scorer=brand_scorer)
    return log_eval(result, settings.tracking_uri, out_dir or settings.data_dir / "eval" / prompt.version)
