"""The eval gate for prompt versions: evaluate a candidate and the champion (``production``) on the same eval set
and generator, and either move ``production`` to the candidate or keep the champion and record why.

Every decision is one MLflow run in the ``loyaltylens-gate`` experiment with tags :data:`GATE_TAGS` (the
dashboard reads them); a promotion also goes through :meth:`PromptRegistry.activate`, so it is in the
registry's alias audit too.
"""

from __future__ import annotations

from dataclasses import dataclass

from loyaltylens.config import Settings, get_settings
from loyaltylens.evaluation.harness import EvalResult

GATE_EXPERIMENT = "loyaltylens-gate"
GATE_TAGS = {
    "kind": "loyaltylens.gate.kind",  # prompt | generator | propensity
    "name": "loyaltylens.gate.name",
    "candidate": "loyaltylens.gate.candidate",
    "champion": "loyaltylens.gate.champion",
    "decision": "loyaltylens.gate.decision",  # promoted | kept-champion
    "reasons": "loyaltylens.gate.reasons",
    "candidate_eval_run": "loyaltylens.gate.candidate_eval_run",
    "champion_eval_run": "loyaltylens.gate.champion_eval_run",
}


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: tuple[str, ...]  # why the candidate is not promoted (empty when it is)


def compare_prompt_results(candidate: EvalResult, champion: EvalResult | None) -> GateDecision:
    """Promote when the candidate passes its own thresholds and its aggregate is not below the champion's."""
    reasons = list(candidate.reasons)
    if champion is not None and candidate.aggregate < champion.aggregate:
        reasons.append(
            f"aggregate {candidate.aggregate:.3f} below champion {champion.prompt}'s {champion.aggregate:.3f}"
        )
    return GateDecision(not reasons, tuple(reasons))


def record_decision(
    tracking_uri: str, *, kind: str, name: str, candidate: str, champion: str | None, decision: GateDecision,
    metrics: dict[str, float] | None = None, eval_runs: tuple[str | None, str | None] = (None, None),
) -> str:  # fmt: skip
    """One finished MLflow run stating what the gate decided and why; returns its id."""
    from loyaltylens.registry.tracking import registry_client

    client = registry_client(tracking_uri)
    experiment = client.get_experiment_by_name(GATE_EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(GATE_EXPERIMENT)
    values = {
        "kind": kind, "name": name, "candidate": candidate, "champion": champion or "",
        "decision": "promoted" if decision.promote else "kept-champion", "reasons": "; ".join(decision.reasons),
        "candidate_eval_run": eval_runs[0] or "", "champion_eval_run": eval_runs[1] or "",
    }  # fmt: skip
    run = client.create_run(
        experiment_id, run_name=f"gate {name} {candidate}", tags={GATE_TAGS[key]: str(v) for key, v in values.items()}
    )
    for key, value in (metrics or {}).items():
        client.log_metric(run.info.run_id, key, float(value))
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def gate_prompt(
    candidate: str, generator: str = "template", settings: Settings | None = None
) -> tuple[GateDecision, str]:
    """Evaluate ``candidate`` (a semver of ``offer_copy``) against ``production``; promote or record why.

    Returns the decision and the id of the MLflow run recording it.
    """
    from loyaltylens.evaluation.harness import run_eval
    from loyaltylens.generation.registry import PromptRegistry

    settings = settings or get_settings()
    registry = PromptRegistry.from_settings(settings)
    registry.sync("offer_copy")
    champion_version = registry.get("offer_copy").spec.version
    candidate_result = run_eval(candidate, generator, settings)
    champion_result = None if champion_version == candidate else run_eval(champion_version, generator, settings)
    decision = compare_prompt_results(candidate_result, champion_result)
    if decision.promote:
        registry.activate(
            "offer_copy", candidate, why=f"eval gate: aggregate {candidate_result.aggregate:.3f} "
            f"(run {candidate_result.run_id})", who="eval-gate",
        )  # fmt: skip
    run_id = record_decision(
        settings.tracking_uri, kind="prompt", name="offer_copy", candidate=candidate, champion=champion_version,
        decision=decision, metrics={"candidate_aggregate": candidate_result.aggregate,
                                    **({"champion_aggregate": champion_result.aggregate} if champion_result else {})},
        eval_runs=(candidate_result.run_id, champion_result.run_id if champion_result else None),
    )  # fmt: skip
    return decision, run_id
