"""The eval-gate pipeline: a candidate prompt version → eval (candidate and champion on the same eval set and
generator) → compare → ``dsl.If``: move ``production`` to the candidate; else keep the champion and record why
(an MLflow run in ``loyaltylens-gate`` tagged ``loyaltylens.gate.*``).

Run locally: ``loyaltylens pipeline run eval-gate`` (kfp.local); compile: ``python -m pipelines.eval_gate``
(writes eval_gate.yaml beside this file; a test checks it is current).
"""

from pathlib import Path

from kfp import compiler, dsl

from components.eval_gate import evaluate_prompt_candidate, keep_prompt_champion, promote_prompt_candidate
from loyaltylens.kfp_runner.platform import on_cluster

COMPILED = Path(__file__).with_name("eval_gate.yaml")
USES_POSTGRES = False  # no task reads or writes Postgres


@dsl.pipeline(name="loyaltylens-eval-gate", description="Gate a candidate prompt version on the eval set.")
def pipeline(candidate: str = "1.1.0", generator: str = "template"):
    evaluation = on_cluster(evaluate_prompt_candidate(candidate=candidate, generator=generator))
    with dsl.If(evaluation.outputs["promote"] == True, name="gate-pass"):  # noqa: E712 (KFP condition)
        on_cluster(
            promote_prompt_candidate(
                candidate=candidate,
                champion=evaluation.outputs["champion"],
                candidate_run_id=evaluation.outputs["candidate_run_id"],
                candidate_aggregate=evaluation.outputs["candidate_aggregate"],
            )
        )
    with dsl.Else(name="gate-fail"):
        on_cluster(
            keep_prompt_champion(
                candidate=candidate,
                champion=evaluation.outputs["champion"],
                reasons=evaluation.outputs["reasons"],
                candidate_run_id=evaluation.outputs["candidate_run_id"],
            )
        )


if __name__ == "__main__":
    compiler.Compiler().compile(pipeline, str(COMPILED))
