"""The retraining pipeline's own steps: whether any trigger fires on the new data, and the record of a check that
found none."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Output

from components import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def check_triggers(
    dataset: Input[Dataset], decision: Output[Markdown]
) -> NamedTuple("TriggerOutputs", retrain=bool, reasons=str, summary=str):
    """Copy quality in the feedback store, drift of the latest feature version against the champion's, and the
    new dataset's labelled campaigns the champion has not seen: retrain when any trigger fires."""
    from collections import namedtuple
    from pathlib import Path

    from loyaltylens.config import task_settings
    from loyaltylens.retraining.loop import check_retraining

    check = check_retraining(Path(dataset.path), task_settings())
    reasons = check.decision.reasons
    summary = (
        f"champion feature version: {check.champion_feature_version}; new labelled campaigns: "
        f"{check.new_labelled_campaigns}; drift says retrain: {check.drift_says_retrain}"
    )
    Path(decision.path).write_text(
        f"retrain: {check.decision.retrain}\n\n"
        + "".join(f"- {reason}\n" for reason in reasons or ["no trigger fired"])
        + f"\n{summary}\n"
    )
    outputs = namedtuple("TriggerOutputs", ["retrain", "reasons", "summary"])
    return outputs(check.decision.retrain, "; ".join(reasons), summary)


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def record_no_trigger(summary: str) -> str:
    """No trigger fired: nothing is built, trained or moved; an MLflow run says what the check saw."""
    from loyaltylens.config import task_settings
    from loyaltylens.retraining.loop import record_no_trigger as record

    return record(summary, task_settings())
