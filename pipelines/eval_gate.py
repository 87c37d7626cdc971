"""The eval-gate pipeline, for a candidate prompt version and/or a generator challenger and/or a propensity
challenger.

- prompt (``candidate``, "" = none): eval (candidate and champion on the same eval set and generator) →
  compare → ``dsl.If``: move ``production`` to the candidate; else keep the champion and record why.
- generator (``generator_challenger``: a registered version or alias of the local copy generator, "" = none): the
  eval set under the ``production`` prompt through the challenger and ``@champion`` → its thresholds and a paired
  interval of the aggregate difference → ``dsl.If``: move ``@champion`` (audited); else keep it and record why.
- propensity (``propensity_challenger``: a registered version or alias, "" = none): the dataset and its pair
  training frame → compare with ``@champion`` on the validation campaign (AUC with a paired cluster-bootstrap
  interval, policy value by expected margin) → ``dsl.If``: move ``@champion`` (audited); else keep it and record
  why.

Every decision is an MLflow run in ``loyaltylens-gate`` tagged ``loyaltylens.gate.*``.
Run locally: ``loyaltylens pipeline run eval_gate`` (kfp.local); compile: ``python -m pipelines.eval_gate``
(writes eval_gate.yaml beside this file; a test checks it is current).
"""

from pathlib import Path

from kfp import compiler, dsl

from components.data import load_data
from components.eval_gate import (
    evaluate_generator_challenger,
    evaluate_prompt_candidate,
    evaluate_propensity_challenger,
    keep_generator_champion,
    keep_prompt_champion,
    keep_propensity_champion,
    promote_generator_challenger,
    promote_prompt_candidate,
    promote_propensity_challenger,
)
from components.features import build_features
from loyaltylens.config import setting_default
from loyaltylens.kfp_runner.platform import on_cluster

COMPILED = Path(__file__).with_name("eval_gate.yaml")
USES_POSTGRES = False  # no task reads or writes Postgres


def gate_prompt_candidate(candidate: str, generator: str) -> None:
    """The prompt gate's tasks (inside the caller's pipeline or condition)."""
    evaluation = on_cluster(evaluate_prompt_candidate(candidate=candidate, generator=generator))
    with dsl.If(evaluation.outputs["promote"] == True, name="gate-pass"):  # noqa: E712 (KFP condition)
        on_cluster(
            promote_prompt_candidate(
                candidate=candidate,
                champion=evaluation.outputs["champion"],
                candidate_run_id=evaluation.outputs["candidate_run_id"],
                candidate_aggregate=evaluation.outputs["candidate_aggregate"],
            ).set_caching_options(False)
        )
    with dsl.Else(name="gate-fail"):
        on_cluster(
            keep_prompt_champion(
                candidate=candidate,
                champion=evaluation.outputs["champion"],
                reasons=evaluation.outputs["reasons"],
                candidate_run_id=evaluation.outputs["candidate_run_id"],
            ).set_caching_options(False)
        )


def gate_generator_challenger(challenger, after: tuple = ()) -> None:
    """The generator gate's tasks, run after the ``after`` tasks (the retraining pipeline's fine-tuning, which
    registers the challenger). The registry moves, so no task here takes a cached result."""
    evaluation = on_cluster(
        evaluate_generator_challenger(challenger=challenger).set_caching_options(False).after(*after)
    )
    decided = {
        "challenger_version": evaluation.outputs["challenger_version"],
        "champion": evaluation.outputs["champion"],
        "challenger_run_id": evaluation.outputs["challenger_run_id"],
        "champion_run_id": evaluation.outputs["champion_run_id"],
        "metrics": evaluation.outputs["metrics"],
    }
    with dsl.If(evaluation.outputs["promote"] == True, name="generator-gate-pass"):  # noqa: E712 (KFP condition)
        on_cluster(
            promote_generator_challenger(summary=evaluation.outputs["summary"], **decided).set_caching_options(False)
        )
    with dsl.Else(name="generator-gate-fail"):
        on_cluster(keep_generator_champion(reasons=evaluation.outputs["reasons"], **decided).set_caching_options(False))


def gate_propensity_challenger(challenger, dataset, training_frame, after: tuple = ()) -> None:
    """The propensity gate's tasks on a dataset artifact and its pair training frame, run after the ``after``
    tasks (the retraining pipeline's registration). The registry moves, so no task here takes a cached result."""
    evaluation = on_cluster(
        evaluate_propensity_challenger(challenger=challenger, training_frame=training_frame, dataset=dataset)
        .set_caching_options(False)
        .after(*after)
    )
    with dsl.If(evaluation.outputs["promote"] == True, name="propensity-gate-pass"):  # noqa: E712 (KFP condition)
        on_cluster(
            promote_propensity_challenger(
                challenger_version=evaluation.outputs["challenger_version"],
                champion=evaluation.outputs["champion"],
                summary=evaluation.outputs["summary"],
                metrics=evaluation.outputs["metrics"],
            ).set_caching_options(False)
        )
    with dsl.Else(name="propensity-gate-fail"):
        on_cluster(
            keep_propensity_champion(
                challenger_version=evaluation.outputs["challenger_version"],
                champion=evaluation.outputs["champion"],
                reasons=evaluation.outputs["reasons"],
                metrics=evaluation.outputs["metrics"],
            ).set_caching_options(False)
        )


@dsl.pipeline(
    name="loyaltylens-eval-gate",
    description="Gate a candidate prompt version and/or a generator challenger on the eval set and/or a "
    "propensity challenger on validation.",
)
def pipeline(
    candidate: str = "1.1.0",
    generator: str = "template",
    generator_challenger: str = "",
    propensity_challenger: str = "",
    source: str = "synthetic",
    n_customers: int = setting_default("n_customers"),
    n_days: int = setting_default("n_days"),
    seed: int = setting_default("seed"),
    label_window_days: int = setting_default("label_window_days"),
):
    with dsl.If(candidate != "", name="prompt-candidate"):
        gate_prompt_candidate(candidate, generator)
    with dsl.If(generator_challenger != "", name="generator-challenger"):
        gate_generator_challenger(generator_challenger)
    with dsl.If(propensity_challenger != "", name="propensity-challenger"):
        data = on_cluster(load_data(source=source, n_customers=n_customers, n_days=n_days, seed=seed))
        features = on_cluster(build_features(dataset=data.outputs["dataset"], label_window_days=label_window_days))
        gate_propensity_challenger(propensity_challenger, data.outputs["dataset"], features.outputs["training_frame"])


if __name__ == "__main__":
    compiler.Compiler().compile(pipeline, str(COMPILED))
