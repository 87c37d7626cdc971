"""The eval gate's steps: evaluate a candidate prompt against the champion, then promote it or keep the champion.

Every value crosses steps as a KFP parameter or artifact, or through the MLflow server in the settings (eval
runs, the prompt registry, gate decisions); nothing is left on a step's disk for another step.
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Metrics, Output

from components import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def evaluate_prompt_candidate(
    candidate: str,
    generator: str,
    metrics: Output[Metrics],
    report: Output[HTML],
) -> NamedTuple(
    "PromptGateOutputs", promote=bool, reasons=str, champion=str, candidate_run_id=str, candidate_aggregate=float
):
    """Run the eval set through the candidate prompt version and the ``production`` champion (same generator)."""
    from collections import namedtuple
    from pathlib import Path

    from loyaltylens.config import task_settings
    from loyaltylens.evaluation.gate import evaluate_prompt_gate
    from loyaltylens.evaluation.harness import render_html

    outcome = evaluate_prompt_gate(candidate, generator, task_settings())
    result = outcome.candidate_result
    for key, value in {**result.means, "aggregate": result.aggregate}.items():
        metrics.log_metric(key, value)
    Path(report.path).write_text(render_html(result))
    outputs = namedtuple(
        "PromptGateOutputs", ["promote", "reasons", "champion", "candidate_run_id", "candidate_aggregate"]
    )
    reasons = "; ".join(outcome.decision.reasons)
    return outputs(outcome.decision.promote, reasons, outcome.champion, result.run_id, result.aggregate)


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def promote_prompt_candidate(
    candidate: str, champion: str, candidate_run_id: str, candidate_aggregate: float
) -> str:
    """Move ``production`` to the candidate (audited) and record the decision; returns the decision run id."""
    from loyaltylens.config import task_settings
    from loyaltylens.evaluation.gate import GateDecision, promote_prompt, record_decision

    settings = task_settings()
    promote_prompt(candidate, candidate_run_id, candidate_aggregate, settings)
    return record_decision(
        settings.tracking_uri, kind="prompt", name="offer_copy", candidate=candidate, champion=champion,
        decision=GateDecision(True, ()), metrics={"candidate_aggregate": candidate_aggregate},
        eval_runs=(candidate_run_id, None),
    )  # fmt: skip


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def keep_prompt_champion(candidate: str, champion: str, reasons: str, candidate_run_id: str) -> str:
    """Leave ``production`` where it is and record why the candidate was refused; returns the decision run id."""
    from loyaltylens.config import task_settings
    from loyaltylens.evaluation.gate import GateDecision, record_decision

    return record_decision(
        task_settings().tracking_uri, kind="prompt", name="offer_copy", candidate=candidate, champion=champion,
        decision=GateDecision(False, tuple(reasons.split("; "))), eval_runs=(candidate_run_id, None),
    )  # fmt: skip
