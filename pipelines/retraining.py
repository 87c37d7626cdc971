"""The retraining pipeline: new data → check the triggers → ``dsl.If`` triggered: rebuild features → retrain the
propensity model (a ``challenger``, if it passes the metrics gate) and fine-tune the local copy generator on the
copies users rated highest → the eval gate for each: the propensity ``@champion`` moves to the challenger only if it
is not worse on the validation campaign (AUC with a paired interval, policy value by expected margin), the
generator's only if it passes the production prompt's eval thresholds and is not worse than its champion on the
eval set (paired interval of the aggregate); else the champion stays and the gate run says why. When no trigger
fires nothing is built, trained or moved (an MLflow run in ``loyaltylens-retraining`` records the check).

Run locally: ``loyaltylens pipeline run retraining`` (kfp.local); on a schedule: ``loyaltylens pipeline schedule``
(a KFP recurring run). Compile: ``python -m pipelines.retraining`` (writes retraining.yaml beside this file; a test
checks it is current).
"""

from pathlib import Path

from kfp import compiler, dsl

from components.data import load_data, validate_data
from components.features import build_features
from components.generation import train_generator
from components.retraining import check_triggers, record_no_trigger
from loyaltylens.config import setting_default
from loyaltylens.kfp_runner.platform import on_cluster
from loyaltylens.propensity.registry import CHALLENGER
from pipelines.eval_gate import gate_generator_challenger, gate_propensity_challenger
from pipelines.training import train_evaluate_register

COMPILED = Path(__file__).with_name("retraining.yaml")
USES_POSTGRES = False  # no task reads or writes Postgres (the offer index is the training pipeline's)


@dsl.pipeline(
    name="loyaltylens-retraining",
    description="On a trigger, retrain the propensity model and the copy generator; promote only if better.",
)
def pipeline(
    source: str = "synthetic",
    n_customers: int = setting_default("n_customers"),
    n_days: int = setting_default("n_days"),
    seed: int = setting_default("seed"),
    label_window_days: int = setting_default("label_window_days"),
    max_epochs: int = setting_default("max_epochs"),
    propensity_learning_rate: float = setting_default("propensity_learning_rate"),
    gate_min_auc: float = setting_default("gate_min_auc"),
    gate_max_ece: float = setting_default("gate_max_ece"),
    gate_max_baseline_auc_gap: float = setting_default("gate_max_baseline_auc_gap"),
    generator_train_steps: int = setting_default("generator_train_steps"),
):
    data = on_cluster(load_data(source=source, n_customers=n_customers, n_days=n_days, seed=seed))
    dataset = data.outputs["dataset"]
    # the triggers read services (feedback store, registry, feature store) that change between runs: never cached
    triggers = on_cluster(check_triggers(dataset=dataset).set_caching_options(False))
    with dsl.If(triggers.outputs["retrain"] == True, name="triggered"):  # noqa: E712 (KFP condition)
        validation = on_cluster(validate_data(dataset=dataset))
        features = on_cluster(
            build_features(dataset=dataset, label_window_days=label_window_days)
            .after(validation)
            .set_caching_options(False)
        )
        tuning = on_cluster(
            train_generator(dataset=dataset, steps=generator_train_steps, seed=seed, from_feedback=True)
            .after(validation)
            .set_caching_options(False)
        )
        # train_generator has just pointed the generator's `challenger` at the fine-tuned version
        gate_generator_challenger(CHALLENGER, after=(tuning,))
        train_evaluate_register(
            dataset,
            features,
            max_epochs=max_epochs,
            learning_rate=propensity_learning_rate,
            seed=seed,
            label_window_days=label_window_days,
            gate_min_auc=gate_min_auc,
            gate_max_ece=gate_max_ece,
            gate_max_baseline_auc_gap=gate_max_baseline_auc_gap,
            # register_model has just pointed `challenger` at the new version; the gate compares that one
            then=lambda registration: gate_propensity_challenger(
                CHALLENGER, dataset, features.outputs["training_frame"], after=(registration,)
            ),
        )
    # The Else is not only a record: kfp.local resolves a condition on a named task output only inside an
    # If/Else pair's branches DAG, which carries the output in as an input.
    with dsl.Else(name="not-triggered"):
        on_cluster(record_no_trigger(summary=triggers.outputs["summary"]).set_caching_options(False))


if __name__ == "__main__":
    compiler.Compiler().compile(pipeline, str(COMPILED))
