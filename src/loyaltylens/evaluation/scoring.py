"""Per-case scores of one generated copy against its eval case, each in [0, 1].

- ``bleu``: sacrebleu sentence BLEU against the reference copy (/100).
- ``rouge_l``: rouge-score ROUGE-L F-measure against the reference copy.
- ``valid_json``: the raw answer parses as :class:`OfferCopy` JSON (the writer's own parser).
- ``guardrails``: no guardrail violation at all (faithfulness, banned claims, tone, PII, injection).
- ``faithfulness``: no number, percentage or amount the offer does not state.
- ``brand``: CLIP brand fit of the rendered offer image (:mod:`loyaltylens.generation.brand`); only when a
  scorer is given.
- ``judge``: the judge's mean over the prompt's ``eval.criteria``. With ``settings.judge_base_url`` set, an
  LLM judge through the ``openai`` backend; otherwise the deterministic rubric :func:`rubric_judge`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from loyaltylens.evaluation.evalset import EvalCase
from loyaltylens.generation.guardrails import check_copy, check_faithfulness, check_tone
from loyaltylens.generation.offer_copy import OfferCopy
from loyaltylens.generation.prompts import offer_variables
from loyaltylens.generation.writer import CopyRejected, parse_copy

Judge = Callable[[EvalCase, OfferCopy, Sequence[str]], float]
_WORD = re.compile(r"[a-z]{4,}")
_CTA_VERBS = ("show", "activate", "shop", "buy", "order", "get", "claim", "save", "redeem", "use", "visit")


def copy_text(copy: OfferCopy) -> str:
    return f"{copy.headline} {copy.body} {copy.cta}"


def rubric_judge(case: EvalCase, copy: OfferCopy, criteria: Sequence[str]) -> float:
    """The deterministic rubric: the share of ``criteria`` met, each 0 or 1.

    - faithfulness: no number the offer does not state;
    - relevance: the copy names the offer's category or a word (4+ letters) of its title;
    - tone: the declared tone is the segment's and the text does not contradict it;
    - cta_present: the call to action starts with an action verb.
    Unknown criteria score 0, so a prompt cannot pass by naming criteria nobody checks.
    """
    variables = offer_variables(case.offer, case.segment, case.channel)
    text = copy_text(copy).lower()
    title_words = set(_WORD.findall(case.offer.title.lower()))
    checks = {
        "faithfulness": not check_faithfulness(copy_text(copy), variables),
        "relevance": case.offer.category.replace("_", " ") in text or bool(title_words & set(_WORD.findall(text))),
        "tone": not check_tone(copy.tone, case.segment, copy_text(copy)),
        "cta_present": copy.cta.lower().split(" ", 1)[0] in _CTA_VERBS,
    }
    return sum(bool(checks.get(criterion, False)) for criterion in criteria) / max(len(criteria), 1)


def llm_judge(base_url: str, model: str, timeout_s: float) -> Judge:
    """An LLM judge on an OpenAI-compatible endpoint: it answers ``{criterion: 0|1}`` as JSON."""
    from loyaltylens.generation.backends import OpenAIBackend

    backend = OpenAIBackend(base_url, model, timeout_s, 1)

    def judge(case: EvalCase, copy: OfferCopy, criteria: Sequence[str]) -> float:
        messages = [
            {"role": "system", "content": "You grade promotional copy. Answer with JSON only: "
             + json.dumps({criterion: "0 or 1" for criterion in criteria})},
            {"role": "user", "content": f"Offer: {case.offer.title}. {case.offer.text} Segment: {case.segment}. "
             f"Channel: {case.channel}.\nCopy: {copy.model_dump_json()}"},
        ]  # fmt: skip
        raw = backend.complete(messages, {}, {"temperature": 0.0, "max_tokens": 100})
        try:
            grades = json.loads(re.search(r"\{.*\}", raw, re.S).group(0))
            return sum(float(grades.get(c, 0)) >= 1 for c in criteria) / max(len(criteria), 1)
        except (AttributeError, ValueError):
            return 0.0  # an unusable grade counts as a failed one

    return judge


def score_case(case: EvalCase, raw: str, criteria: Sequence[str], judge: Judge, brand_scorer=None) -> dict:
    """All scores of one raw answer (a copy that is not valid JSON scores 0 on everything but BLEU/ROUGE)."""
    from rouge_score import rouge_scorer
    from sacrebleu import sentence_bleu

    variables = offer_variables(case.offer, case.segment, case.channel)
    try:
        copy = parse_copy(raw)
    except CopyRejected:
        copy = None
    hypothesis = copy_text(copy) if copy is not None else raw
    scores = {
        "bleu": sentence_bleu(hypothesis, [case.reference]).score / 100,
        "rouge_l": rouge_scorer.RougeScorer(["rougeL"]).score(case.reference, hypothesis)["rougeL"].fmeasure,
        "valid_json": float(copy is not None),
        "guardrails": float(copy is not None and not check_copy(copy, variables)),
        "faithfulness": float(copy is not None and not check_faithfulness(copy_text(copy), variables)),
        "judge": judge(case, copy, criteria) if copy is not None else 0.0,
    }
    if brand_scorer is not None:
        from loyaltylens.generation.brand import render_offer_image

        scores["brand"] = float(brand_scorer.score([render_offer_image(copy)])[0]) if copy is not None else 0.0
    return {"case_id": case.case_id, "copy": hypothesis, **scores}
