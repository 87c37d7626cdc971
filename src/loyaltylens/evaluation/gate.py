"""The eval gate for prompt versions: evaluate a candidate and the champion (``production``) on the same eval set
and generator, and either move ``production`` to the candidate or keep the champion and record why.

Every decision is one MLflow run in the ``loyaltylens-gate`` experiment with tags :data:`GATE_TAGS` (the
dashboard reads them); a promotion also goes through :meth:`PromptRegistry.activate`, so it is in the
registry's alias audit too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import NotFoundError
from loyaltylens.evaluation.harness import EvalResult

if TYPE_CHECKING:
    from loyaltylens.registry.audit import AuditEntry
    from loyaltylens.registry.models import ModelRegistry

GATE_EXPERIMENT = "loyaltylens-gate"
GATE_WHO = "eval-gate"  # who moves an alias through a gate, in the registry's audit
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


def promote_audited(registry: ModelRegistry, version: int, why: str, who: str = GATE_WHO) -> AuditEntry:
    """Move ``registry``'s ``champion`` to ``version`` and audit the move (from, to, who, why) in MLflow."""
    from loyaltylens.registry.audit import record_move
    from loyaltylens.registry.models import CHAMPION

    try:
        previous = registry.resolve(CHAMPION)
    except NotFoundError:
        previous = None
    registry.promote(version)
    return record_move(
        registry.client, registry.tracking_uri, kind="model", name=registry.model_name, alias=CHAMPION,
        action="promote", previous=None if previous is None else str(previous), version=str(version), why=why, who=who,
    )  # fmt: skip


@dataclass(frozen=True)
class PromptGateOutcome:
    """What the prompt gate measured and decided (nothing moved yet)."""

    candidate: str
    champion: str
    decision: GateDecision
    candidate_result: EvalResult
    champion_result: EvalResult | None

    def record(self, tracking_uri: str) -> str:
        metrics = {"candidate_aggregate": self.candidate_result.aggregate}
        if self.champion_result is not None:
            metrics["champion_aggregate"] = self.champion_result.aggregate
        champion_run = self.champion_result.run_id if self.champion_result else None
        return record_decision(
            tracking_uri, kind="prompt", name="offer_copy", candidate=self.candidate, champion=self.champion,
            decision=self.decision, metrics=metrics, eval_runs=(self.candidate_result.run_id, champion_run),
        )  # fmt: skip


def evaluate_prompt_gate(
    candidate: str, generator: str = "template", settings: Settings | None = None
) -> PromptGateOutcome:
    """Evaluate ``candidate`` (a semver of ``offer_copy``) and the ``production`` champion; decide, move nothing."""
    from loyaltylens.evaluation.harness import run_eval
    from loyaltylens.generation.registry import PromptRegistry

    settings = settings or get_settings()
    registry = PromptRegistry.from_settings(settings)
    registry.sync("offer_copy")
    champion = registry.get("offer_copy").spec.version
    candidate_result = run_eval(candidate, generator, settings)
    champion_result = None if champion == candidate else run_eval(champion, generator, settings)
    decision = compare_prompt_results(candidate_result, champion_result)
    return PromptGateOutcome(candidate, champion, decision, candidate_result, champion_result)


def promote_prompt(candidate: str, eval_run_id: str, aggregate: float, settings: Settings | None = None) -> None:
    """Move ``production`` to ``candidate`` (audited, the eval run named as the reason)."""
    from loyaltylens.generation.registry import PromptRegistry

    why = f"eval gate passed: aggregate {aggregate:.3f} (MLflow run {eval_run_id})"
    PromptRegistry.from_settings(settings).activate("offer_copy", candidate, why=why, who="eval-gate")


def gate_prompt(
    candidate: str, generator: str = "template", settings: Settings | None = None
) -> tuple[GateDecision, str]:
    """Evaluate, then promote or keep the champion; returns the decision and the id of its MLflow run."""
    settings = settings or get_settings()
    outcome = evaluate_prompt_gate(candidate, generator, settings)
    if outcome.decision.promote:
        promote_prompt(candidate, outcome.candidate_result.run_id, outcome.candidate_result.aggregate, settings)
    return outcome.decision, outcome.record(settings.tracking_uri)
