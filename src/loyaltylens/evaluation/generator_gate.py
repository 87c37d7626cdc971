"""The eval gate for a copy-generator challenger: run the eval set with the ``production`` prompt through the
challenger version and the ``@champion`` version of the registered local generator, and either move
``champion`` to the challenger (audited) or keep the champion and record why.

Two rules, both on the same eval cases:

- **thresholds**: the challenger's eval result passes the prompt's ``eval:`` thresholds
  (:func:`loyaltylens.evaluation.harness.gate_reasons`);
- **not worse than the champion**: the paired 95% bootstrap interval of the per-case aggregate difference
  (challenger - champion) must not lie wholly below ``-settings.generator_gate_max_aggregate_drop``, so sampling
  noise alone never blocks a release and a clear loss always does.

A registry without a champion takes a challenger that passes the thresholds as its first one. The pipeline
records every decision as one run of the gate experiment (:func:`loyaltylens.evaluation.gate.record_decision`,
kind :data:`GATE_KIND`); a promotion is also an entry of the registry's alias audit
(:func:`loyaltylens.registry.audit.record_move`: from, to, who, why).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from loyaltylens.config import Settings, get_settings
from loyaltylens.decision.ope import paired_mean_difference
from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.evaluation.gate import GateDecision, promote_audited, record_decision
from loyaltylens.evaluation.harness import EvalResult, run_eval
from loyaltylens.generation.model_store import REGISTRY_URI_PREFIX, GeneratorRegistry, generator_registry
from loyaltylens.registry.audit import AuditEntry
from loyaltylens.registry.models import CHALLENGER, CHAMPION

GATE_KIND = "generator"
PROMPT_NAME = "offer_copy"


@dataclass(frozen=True)
class GeneratorGateOutcome:
    """What the gate measured on the eval set and decided (nothing moved yet)."""

    challenger: int
    champion: int | None
    prompt: str  # the production prompt version both generators ran under
    decision: GateDecision
    challenger_result: EvalResult
    champion_result: EvalResult | None
    metrics: dict[str, float]  # aggregates and their paired difference (only the challenger's: no champion)

    @property
    def summary(self) -> str:
        """One line for the audit's ``why`` and the logs."""
        m = self.metrics
        head = f"prompt offer_copy@{self.prompt}: eval aggregate v{self.challenger} {m['challenger_aggregate']:.3f}"
        if self.champion is None:
            return f"{head}; v{self.challenger} is the first champion (no champion to compare with)"
        return (
            f"{head} vs v{self.champion} {m['champion_aggregate']:.3f} (paired difference "
            f"{m['aggregate_difference']:+.3f} [{m['aggregate_difference_low']:+.3f}, "
            f"{m['aggregate_difference_high']:+.3f}])"
        )

    @property
    def eval_runs(self) -> tuple[str | None, str | None]:
        return self.challenger_result.run_id, self.champion_result.run_id if self.champion_result else None


def _evaluate_version(registry: GeneratorRegistry, version: int, prompt: str, settings: Settings) -> EvalResult:
    """The eval set under ``prompt`` through registered ``version`` as the local copy backend."""
    uri = f"{REGISTRY_URI_PREFIX}{registry.model_name}/{version}"
    version_settings = settings.model_copy(update={"generator_backend": "local", "generator_model_uri": uri})
    out_dir = settings.data_dir / "eval" / f"{registry.model_name}-v{version}"
    return run_eval(prompt, "backend", version_settings, out_dir=out_dir)


def compare_generator_results(
    challenger: EvalResult, champion: EvalResult | None, max_drop: float, seed: int = 0
) -> tuple[GateDecision, dict[str, float]]:
    """The two rules of the module docstring on two eval results of the same eval set."""
    reasons = list(challenger.reasons)
    metrics = {"challenger_aggregate": challenger.aggregate}
    if champion is not None:
        if champion.eval_set != challenger.eval_set:
            raise InvalidInputError(f"eval sets differ ({challenger.eval_set} vs {champion.eval_set}); not paired")
        champion_by_case = {row["case_id"]: row["aggregate"] for row in champion.cases}
        ours = np.array([row["aggregate"] for row in challenger.cases])
        theirs = np.array([champion_by_case[row["case_id"]] for row in challenger.cases])
        difference = paired_mean_difference(ours, theirs, seed=seed)
        metrics |= {
            "champion_aggregate": champion.aggregate,
            "aggregate_difference": difference.value,
            "aggregate_difference_low": difference.low,
            "aggregate_difference_high": difference.high,
        }
        if difference.high < -max_drop:
            reasons.append(
                f"eval aggregate {challenger.aggregate:.3f} is significantly below the champion's "
                f"{champion.aggregate:.3f} (paired difference {difference.value:+.3f}, 95% interval "
                f"[{difference.low:+.3f}, {difference.high:+.3f}] wholly below -{max_drop:g})"
            )
    metrics = {key: float(np.round(value, 6)) for key, value in metrics.items()}
    return GateDecision(not reasons, tuple(reasons)), metrics


def evaluate_generator_challenger(
    settings: Settings | None = None, challenger: str = CHALLENGER
) -> GeneratorGateOutcome:
    """Compare ``challenger`` (alias, version or ``models:/`` URI of the generator) with ``@champion`` on the eval
    set under the ``production`` prompt; decide, move nothing.

    Raises:
        NotFoundError: no such challenger version.
        InvalidInputError: the challenger is the champion already.
    """
    from loyaltylens.generation.registry import PromptRegistry

    settings = settings or get_settings()
    registry = generator_registry(settings)
    version = registry.resolve(challenger)
    try:
        champion = registry.resolve(CHAMPION)
    except NotFoundError:
        champion = None
    if champion == version:
        raise InvalidInputError(f"v{version} of '{registry.model_name}' is the champion already; nothing to gate")
    prompts = PromptRegistry.from_settings(settings)
    prompts.sync(PROMPT_NAME)
    prompt = prompts.get(PROMPT_NAME).spec.version  # production, pinned so both runs use the same version
    challenger_result = _evaluate_version(registry, version, prompt, settings)
    champion_result = None if champion is None else _evaluate_version(registry, champion, prompt, settings)
    decision, metrics = compare_generator_results(
        challenger_result, champion_result, settings.generator_gate_max_aggregate_drop, settings.seed
    )
    return GeneratorGateOutcome(version, champion, prompt, decision, challenger_result, champion_result, metrics)


def promote_generator_challenger(
    version: int,
    champion: int | None,
    summary: str,
    metrics: Mapping[str, float] | None = None,
    eval_runs: tuple[str | None, str | None] = (None, None),
    settings: Settings | None = None,
) -> tuple[AuditEntry, str]:
    """Move the generator's ``champion`` to ``version`` (audited: from, to, who, why) and record the gate decision;
    returns the audit entry and the decision's MLflow run id."""
    settings = settings or get_settings()
    registry = generator_registry(settings)
    entry = promote_audited(registry, version, f"eval gate passed: {summary}")
    run_id = record_decision(
        settings.tracking_uri, kind=GATE_KIND, name=registry.model_name, candidate=str(version),
        champion=None if champion is None else str(champion), decision=GateDecision(True, ()), metrics=metrics,
        eval_runs=eval_runs,
    )  # fmt: skip
    return entry, run_id


def keep_generator_champion(
    version: int,
    champion: int | None,
    reasons: Sequence[str],
    metrics: Mapping[str, float] | None = None,
    eval_runs: tuple[str | None, str | None] = (None, None),
    settings: Settings | None = None,
) -> str:
    """Leave ``@champion`` where it is and record why ``version`` was refused; returns the decision's run id."""
    settings = settings or get_settings()
    return record_decision(
        settings.tracking_uri, kind=GATE_KIND, name=settings.generator_model_name, candidate=str(version),
        champion=None if champion is None else str(champion), decision=GateDecision(False, tuple(reasons)),
        metrics=metrics, eval_runs=eval_runs,
    )  # fmt: skip


def gate_generator_challenger(
    settings: Settings | None = None, challenger: str = CHALLENGER
) -> tuple[GateDecision, str]:
    """Evaluate, then promote or keep the champion; returns the decision and the id of its MLflow run."""
    settings = settings or get_settings()
    outcome = evaluate_generator_challenger(settings, challenger)
    if outcome.decision.promote:
        _, run_id = promote_generator_challenger(
            outcome.challenger, outcome.champion, outcome.summary, outcome.metrics, outcome.eval_runs, settings
        )
    else:
        run_id = keep_generator_champion(
            outcome.challenger, outcome.champion, outcome.decision.reasons, outcome.metrics, outcome.eval_runs,
            settings,
        )  # fmt: skip
    return outcome.decision, run_id
