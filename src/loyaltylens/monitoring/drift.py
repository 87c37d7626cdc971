"""Feature and prediction-score drift between the training feature version and a newer one.

``check_drift`` compares two versions of the feature store's ``online`` table (one row per member at each
version's as-of) feature by feature with PSI (``monitoring/psi.py``), optionally adds the PSI of the
model's scores on both versions, and applies the retraining rule: retrain when at least
``drift_retrain_major_features`` features drifted majorly (PSI > ``drift_psi_major``) or the scores did.
``evidently_report`` renders the same two tables as an Evidently data-drift report (HTML + its per-column
method, threshold, score and flag), a second opinion with per-column statistical tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from loyaltylens.config import Settings
from loyaltylens.errors import InvalidInputError
from loyaltylens.features.definitions import (
    CAMPAIGN_SCHEDULE_FEATURES,
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    NUMERIC_FEATURES,
)
from loyaltylens.features.store import FeatureStore
from loyaltylens.monitoring.psi import DEFAULT_EPSILON, DriftLevel, drift_level, psi

# `loyaltylens drift check` exit codes: 2 is every LoyaltyLens error (the CLI's one-line error handler).
EXIT_STABLE = 0
EXIT_RETRAIN = 3


@dataclass(frozen=True)
class DriftThresholds:
    """The PSI reading and the retraining rule (defaults in ``Settings``)."""

    minor: float = 0.1
    major: float = 0.2
    major_features_for_retrain: int = 3
    bins: int = 10
    epsilon: float = DEFAULT_EPSILON

    @classmethod
    def from_settings(cls, settings: Settings) -> DriftThresholds:
        return cls(
            minor=settings.drift_psi_minor,
            major=settings.drift_psi_major,
            major_features_for_retrain=settings.drift_retrain_major_features,
            bins=settings.drift_psi_bins,
        )

    def level(self, value: float) -> DriftLevel:
        return drift_level(value, self.minor, self.major)


@dataclass(frozen=True)
class ColumnDrift:
    """PSI of one column (a feature, or the model's score) between the reference and the current sample."""

    name: str
    psi: float
    level: DriftLevel
    reference_mean: float
    current_mean: float


@dataclass(frozen=True)
class DriftResult:
    """Everything ``check_drift`` measured and what it recommends."""

    reference_version: str
    current_version: str
    reference_as_of: str
    current_as_of: str
    reference_rows: int
    current_rows: int
    features: list[ColumnDrift]
    score: ColumnDrift | None  # None: no model was given, score drift not measured
    thresholds: DriftThresholds
    seconds: float

    @property
    def major_features(self) -> list[str]:
        return [
            f.name for f in self.features if f.level is DriftLevel.MAJOR and f.name not in CAMPAIGN_SCHEDULE_FEATURES
        ]

    @property
    def reasons(self) -> list[str]:
        """Why retraining is recommended (empty: it is not)."""
        reasons = []
        if len(self.major_features) >= self.thresholds.major_features_for_retrain:
            reasons.append(
                f"{len(self.major_features)} features drifted majorly (PSI > {self.thresholds.major}): "
                + ", ".join(self.major_features)
            )
        if self.score is not None and self.score.level is DriftLevel.MAJOR:
            reasons.append(f"prediction scores drifted majorly (PSI {self.score.psi:.3f} > {self.thresholds.major})")
        return reasons

    @property
    def retrain_recommended(self) -> bool:
        return bool(self.reasons)

    @property
    def exit_code(self) -> int:
        return EXIT_RETRAIN if self.retrain_recommended else EXIT_STABLE

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(major_features=self.major_features, retrain_recommended=self.retrain_recommended)
        data["reasons"] = self.reasons
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def column_drift(name: str, reference: np.ndarray, current: np.ndarray, categorical: bool, t: DriftThresholds):
    """PSI, level and means of one column."""
    value = psi(reference, current, categorical=categorical, bins=t.bins, epsilon=t.epsilon)
    return ColumnDrift(
        name=name,
        psi=value,
        level=t.level(value),
        reference_mean=float(np.nanmean(reference)),
        current_mean=float(np.nanmean(current)),
    )


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, thresholds: DriftThresholds | None = None
) -> list[ColumnDrift]:
    """PSI of every feature of ``FEATURE_NAMES`` (online-table layout, categoricals as codes).

    Raises:
        InvalidInputError: a frame lacks a feature column or has no rows.
    """
    t = thresholds or DriftThresholds()
    for what, frame in (("reference", reference), ("current", current)):
        missing = [name for name in FEATURE_NAMES if name not in frame.columns]
        if missing:
            raise InvalidInputError(f"{what} frame lacks feature column(s) {missing}")
    return [
        column_drift(name, reference[name].to_numpy(), current[name].to_numpy(), name in CATEGORICAL_FEATURES, t)
        for name in FEATURE_NAMES
    ]


Scorer = Callable[[FeatureStore, str], np.ndarray]  # (store, version) -> the model's scores on that version


def check_drift(
    store: FeatureStore,
    reference: str,
    current: str = "latest",
    thresholds: DriftThresholds | None = None,
    scorer: Scorer | None = None,
) -> DriftResult:
    """Compare feature version ``current`` with ``reference`` (the model's training version).

    Args:
        store: the feature store holding both versions.
        reference: the reference version (``v0003``, ``3`` ...).
        current: the version to check, ``latest`` by default.
        thresholds: PSI reading and retraining rule; defaults as in ``Settings``.
        scorer: scores of the deployed model on a version; with it, prediction-score drift is measured too.

    Raises:
        NotFoundError / UnknownVersionError: no such version (from the store).
        InvalidInputError: reference and current are the same version.
    """
    started = time.perf_counter()
    t = thresholds or DriftThresholds()
    ref_name, cur_name = store.resolve(reference), store.resolve(current)
    if ref_name == cur_name:
        raise InvalidInputError(f"reference and current are the same feature version ({ref_name}); nothing to compare")
    ref_frame, cur_frame = store.get_online_frame(ref_name), store.get_online_frame(cur_name)
    score = None
    if scorer is not None:
        score = column_drift("score", scorer(store, ref_name), scorer(store, cur_name), False, t)
    return DriftResult(
        reference_version=ref_name,
        current_version=cur_name,
        reference_as_of=store.describe(ref_name).as_of,
        current_as_of=store.describe(cur_name).as_of,
        reference_rows=len(ref_frame),
        current_rows=len(cur_frame),
        features=feature_drift(ref_frame, cur_frame, t),
        score=score,
        thresholds=t,
        seconds=round(time.perf_counter() - started, 3),
    )


def drift_history(store: FeatureStore, reference: str, thresholds: DriftThresholds | None = None) -> pd.DataFrame:
    """PSI of every feature of every version after ``reference`` against it: one row per (version, feature)
    with ``version``, ``as_of``, ``feature``, ``psi`` and ``level`` (empty if no version follows it)."""
    t = thresholds or DriftThresholds()
    ref_name = store.resolve(reference)
    versions = [info for info in store.list_versions() if info.snapshot_id > store.describe(ref_name).snapshot_id]
    ref_frame = store.get_online_frame(ref_name)
    rows = [
        {"version": info.version, "as_of": info.as_of, "feature": d.name, "psi": d.psi, "level": str(d.level)}
        for info in versions
        for d in feature_drift(ref_frame, store.get_online_frame(info.version), t)
    ]
    return pd.DataFrame(rows, columns=["version", "as_of", "feature", "psi", "level"])


# --- Evidently --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvidentlyColumn:
    """One column's verdict in the Evidently report: its test (chosen by Evidently), threshold, score, flag."""

    column: str
    method: str
    threshold: float
    score: float
    drifted: bool


@dataclass(frozen=True)
class EvidentlySummary:
    html_path: Path
    drifted_share: float
    columns: list[EvidentlyColumn]
    seconds: float


def evidently_report(reference: pd.DataFrame, current: pd.DataFrame, html_path: Path) -> EvidentlySummary:
    """Evidently's data-drift preset over the features of two online tables, saved as HTML at ``html_path``.

    Column types are pinned (``DataDefinition``), so integer-coded categoricals are tested as categories and
    not as numbers. The per-column test is Evidently's choice (K-S / chi-square up to 1,000 reference rows,
    Wasserstein / Jensen-Shannon distance beyond); p-value tests flag drift below their threshold, distances
    at or above it.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    definition = DataDefinition(
        numerical_columns=list(NUMERIC_FEATURES), categorical_columns=list(CATEGORICAL_FEATURES)
    )
    columns = list(FEATURE_NAMES)
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    html_path = Path(html_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(html_path))
    drifted_share, verdicts = 0.0, []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            drifted_share = float(metric["value"]["share"])
        elif config["type"].endswith("ValueDrift"):
            score, threshold = float(metric["value"]), float(config["threshold"])
            is_p_value = "p_value" in config["method"].lower().replace("-", "_")
            verdicts.append(
                EvidentlyColumn(
                    column=config["column"],
                    method=config["method"],
                    threshold=threshold,
                    score=score,
                    drifted=score < threshold if is_p_value else score >= threshold,
                )
            )
    return EvidentlySummary(html_path, drifted_share, verdicts, round(time.perf_counter() - started, 3))
