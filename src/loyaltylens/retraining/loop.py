"""The retraining loop: gather the three triggers' inputs and decide (:func:`check_retraining`), and the copies
users rated highest, which the local copy generator is fine-tuned on (:func:`preferred_copies`).

The triggers' rule is :func:`loyaltylens.feedback.triggers.retraining_decision`; this module only reads its
inputs from the services the settings name: the feedback store (7-day copy quality), the MLflow registry (the
champion and the feature version it was trained on), the feature store (drift of the latest version against
that one) and the new dataset (how many of its campaigns are labelled and were not yet when the champion's
features were built).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from loyaltylens.config import Settings, get_settings
from loyaltylens.data import read_manifest
from loyaltylens.errors import NotFoundError
from loyaltylens.features.store import FeatureStore
from loyaltylens.feedback.export import chat_examples
from loyaltylens.feedback.quality import recent_quality
from loyaltylens.feedback.store import open_feedback_store
from loyaltylens.feedback.triggers import RetrainDecision, retraining_decision
from loyaltylens.monitoring.drift import DriftThresholds, check_drift
from loyaltylens.propensity.registry import CHAMPION, LINEAGE_TAG_PREFIX, ModelRegistry

FEATURE_VERSION_TAG = f"{LINEAGE_TAG_PREFIX}feature_version"


def champion_feature_version(settings: Settings) -> str | None:
    """The feature version the propensity champion was trained on (its run's lineage tag); None: no champion."""
    registry = ModelRegistry.from_settings(settings)
    try:
        version = registry.resolve(CHAMPION)
    except NotFoundError:
        return None
    run_id = registry.client.get_model_version(registry.model_name, str(version)).run_id
    return registry.client.get_run(run_id).data.tags.get(FEATURE_VERSION_TAG)


def labelled_campaigns(dataset_dir: Path, label_window_days: int) -> list[date]:
    """The dataset's campaign dates whose label window has closed by the end of the dataset."""
    period = read_manifest(dataset_dir)["period"]
    end = date.fromisoformat(period["end_date"])
    dates = [date.fromisoformat(d) for d in period["campaign_dates"]]
    return [d for d in dates if d + timedelta(days=label_window_days) <= end]


def new_labelled_campaigns(dataset_dir: Path, trained_as_of: date | None, label_window_days: int) -> int:
    """Campaigns labelled in ``dataset_dir`` whose labels were not yet known on ``trained_as_of`` (the champion's
    feature as-of date); every labelled campaign when there is no champion."""
    return sum(
        trained_as_of is None or d + timedelta(days=label_window_days) >= trained_as_of
        for d in labelled_campaigns(dataset_dir, label_window_days)
    )


@dataclass(frozen=True)
class RetrainingCheck:
    decision: RetrainDecision
    champion_feature_version: str | None
    new_labelled_campaigns: int
    drift_says_retrain: bool


def check_retraining(
    dataset_dir: Path, settings: Settings | None = None, now: datetime | None = None
) -> RetrainingCheck:
    """Read the three triggers' inputs and apply :func:`retraining_decision`."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    feature_version = champion_feature_version(settings)
    store = FeatureStore.from_settings(settings)
    trained_as_of, drift = None, False
    if feature_version is not None:
        trained_as_of = date.fromisoformat(store.describe(feature_version).as_of)
        if store.resolve("latest") != store.resolve(feature_version):  # a newer version to compare with
            thresholds = DriftThresholds.from_settings(settings)
            drift = check_drift(store, feature_version, "latest", thresholds).retrain_recommended
    new = new_labelled_campaigns(dataset_dir, trained_as_of, settings.label_window_days)
    decision = retraining_decision(recent_quality(settings, now), drift, new, settings)
    return RetrainingCheck(decision, feature_version, new, drift)


def preferred_copies(settings: Settings) -> list[tuple[str, str]]:
    """The (user message, copy) pairs users rated highest in the feedback store (``chat_examples``): what the
    copy generator is fine-tuned on, supervised on chosen copies."""
    with open_feedback_store(settings) as store:
        examples = chat_examples(store.feedback_frame())
    return [(example.messages[-2].content, example.messages[-1].content) for example in examples]


RETRAINING_EXPERIMENT = "loyaltylens-retraining"
SKIPPED_TAG = "loyaltylens.retraining.skipped"


def record_no_trigger(summary: str, settings: Settings | None = None) -> str:
    """A finished MLflow run saying a scheduled check found no reason to retrain (and what it looked at), so
    a quiet week is visible next to the gate's decisions; returns its id."""
    from loyaltylens.registry.tracking import registry_client

    settings = settings or get_settings()
    client = registry_client(settings.tracking_uri)
    experiment = client.get_experiment_by_name(RETRAINING_EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(RETRAINING_EXPERIMENT)
    run = client.create_run(experiment_id, run_name="no trigger fired", tags={SKIPPED_TAG: summary})
    client.set_terminated(run.info.run_id)
    return run.info.run_id
