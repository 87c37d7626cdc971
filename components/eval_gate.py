"""The eval gate's steps: evaluate a candidate prompt (or a generator or propensity challenger) against the
champion, then promote it or keep the champion.

Every value crosses steps as a KFP parameter or artifact, or through the MLflow server in the settings (eval
runs, the prompt registry, gate decisions); nothing is left on a step's disk for another step.
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Metrics, Output

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
def promote_prompt_candidate(candidate: str, champion: str, candidate_run_id: str, candidate_aggregate: float) -> str:
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


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def evaluate_propensity_challenger(
    challenger: str,
    training_frame: Input[Dataset],
    dataset: Input[Dataset],
    metrics: Output[Metrics],
) -> NamedTuple("PropensityGateOutputs", promote=bool, reasons=str, challenger_version=int, champion=str, summary=str):
    """Compare the registered ``challenger`` with ``@champion`` on the validation campaign (AUC with a paired
    cluster-bootstrap interval, policy value by expected margin); decide, move nothing."""
    from collections import namedtuple
    from pathlib import Path

    import pandas as pd

    from loyaltylens.config import task_settings
    from loyaltylens.evaluation.propensity_gate import evaluate_propensity_challenger as evaluate

    outcome = evaluate(pd.read_parquet(training_frame.path), Path(dataset.path), challenger, task_settings())
    for key, value in outcome.metrics.items():
        metrics.log_metric(key, value)
    outputs = namedtuple("PropensityGateOutputs", ["promote", "reasons", "challenger_version", "champion", "summary"])
    champion = "" if outcome.champion is None else str(outcome.champion)
    reasons = "; ".join(outcome.decision.reasons)
    return outputs(outcome.decision.promote, reasons, outcome.challenger, champion, outcome.summary)


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def promote_propensity_challenger(challenger_version: int, champion: str, summary: str, metrics: Input[Metrics]) -> str:
    """Move ``@champion`` to the challenger (audited: from, to, who, why) and record the gate decision."""
    from loyaltylens.config import task_settings
    from loyaltylens.evaluation.gate import GateDecision, record_decision
    from loyaltylens.evaluation.propensity_gate import GATE_KIND
    from loyaltylens.evaluation.propensity_gate import promote_propensity_challenger as promote

    settings = task_settings()
    promote(challenger_version, f"eval gate passed: {summary}", settings)
    return record_decision(
        settings.tracking_uri, kind=GATE_KIND, name=settings.propensity_model_name, candidate=str(challenger_version),
        champion=champion or None, decision=GateDecision(True, ()), metrics=metrics.metadata,
    )  # fmt: skip


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def keep_propensity_champion(challenger_version: int, champion: str, reasons: str, metrics: Input[Metrics]) -> str:
    """Leave ``@champion`` where it is and record why the challenger was refused; returns the decision run id."""
    from loyaltylens.config import task_settings
    from loyaltylens.evaluation.gate import GateDecision, record_decision
    from loyaltylens.evaluation.propensity_gate import GATE_KIND

    settings = task_settings()
    return record_decision(
        settings.tracking_uri, kind=GATE_KIND, name=settings.propensity_model_name, candidate=str(challenger_version),
        champion=champion or None, decision=GateDecision(False, tuple(reasons.split("; "))), metrics=metrics.metadata,
    )  # fmt: skip


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def evaluate_generator_challenger(
    challenger: str,
    metrics: Output[Metrics],
    report: Output[HTML],
) -> NamedTuple(
    "GeneratorGateOutputs", promote=bool, reasons=str, challenger_version=int, champion=str, summary=str,
    challenger_run_id=str, champion_run_id=str,
):  # fmt: skip
    """Run the eval set under the ``production`` prompt through the registered generator ``challenger`` and the
    ``@champion``; decide, move nothing."""
    from collections import namedtuple
    from pathlib import Path

    from loyaltylens.config import task_settings
    from loyaltylens.evaluation.generator_gate import evaluate_generator_challenger as evaluate
    from loyaltylens.evaluation.harness import render_html

    outcome = evaluate(task_settings(), challenger)
    for key, value in outcome.metrics.items():
        metrics.log_metric(key, value)
    Path(report.path).write_text(render_html(outcome.challenger_result))
    outputs = namedtuple(
        "GeneratorGateOutputs",
        ["promote", "reasons", "challenger_version", "champion", "summary", "challenger_run_id", "champion_run_id"],
    )
    champion = "" if outcome.champion is None else str(outcome.champion)
    challenger_run, champion_run = outcome.eval_runs
    return outputs(
        outcome.decision.promote, "; ".join(outcome.decision.reasons), outcome.challenger, champion, outcome.summary,
        challenger_run or "", champion_run or "",
    )  # fmt: skip


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def promote_generator_challenger(
    challenger_version: int, champion: str, summary: str, challenger_run_id: str, champion_run_id: str,
    metrics: Input[Metrics],
) -> str:  # fmt: skip
    """Move the generator's ``@champion`` to the challenger (audited) and record the decision; returns its run id."""
    from loyaltylens.config import task_settings
    from loyaltylens.evaluation.generator_gate import promote_generator_challenger as promote

    _, run_id = promote(
        challenger_version, int(champion) if champion else None, summary, metrics.metadata,
        (challenger_run_id or None, champion_run_id or None), task_settings(),
    )  # fmt: skip
    return run_id


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def keep_generator_champion(
    challenger_version: int, champion: str, reasons: str, challenger_run_id: str, champion_run_id: str,
    metrics: Input[Metrics],
) -> str:  # fmt: skip
    """Leave the generator's ``@champion`` where it is and record why the challenger was refused."""
    from loyaltylens.config import task_settings
    from loyaltylens.evaluation.generator_gate import keep_generator_champion as keep

    return keep(
        challenger_version, int(champion) if champion else None, reasons.split("; "), metrics.metadata,
        (challenger_run_id or None, champion_run_id or None), task_settings(),
    )  # fmt: skip
