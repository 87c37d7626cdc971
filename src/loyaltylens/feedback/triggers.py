"""When to retrain: copy quality fell, the drift monitor says so, or enough new labelled campaigns arrived.

Each trigger is a plain function of its inputs (the drift verdict is the monitoring package's; it is passed
in, not recomputed), so the retraining pipeline's first step and the tests call the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from loyaltylens.config import Settings


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, and every reason that said so (empty when nothing fired)."""

    retrain: bool
    reasons: list[str] = field(default_factory=list)


def quality_reasons(quality: pd.DataFrame, settings: Settings) -> list[str]:
    """A reason per version pair whose window quality (``window_quality``) is below a threshold, judged only
    on at least ``feedback_min_ratings`` ratings of that kind (a handful of ratings is noise, not a drop)."""
    reasons = []
    for row in quality.itertuples(index=False):
        versions = f"prompt {row.prompt_version} / generator {row.generator_version}"
        if row.star_ratings >= settings.feedback_min_ratings and row.mean_stars < settings.retrain_min_mean_stars:
            reasons.append(
                f"{versions}: {settings.feedback_window_days}-day mean {row.mean_stars:.2f} stars "
                f"< {settings.retrain_min_mean_stars} ({row.star_ratings} ratings)"
            )
        if (
            row.thumb_ratings >= settings.feedback_min_ratings
            and row.thumbs_up_rate < settings.retrain_min_thumbs_up_rate
        ):
            reasons.append(
                f"{versions}: {settings.feedback_window_days}-day thumbs-up rate {row.thumbs_up_rate:.0%} "
                f"< {settings.retrain_min_thumbs_up_rate:.0%} ({row.thumb_ratings} ratings)"
            )
    return reasons


def retraining_decision(
    quality: pd.DataFrame, drift_says_retrain: bool, new_labelled_campaigns: int, settings: Settings
) -> RetrainDecision:
    """Retrain when any trigger fires: quality below threshold (``quality`` from ``window_quality``), the drift
    monitor's verdict, or at least ``retrain_min_new_campaigns`` labelled campaigns since the last training."""
    reasons = quality_reasons(quality, settings)
    if drift_says_retrain:
        reasons.append("drift monitor: retrain")
    if new_labelled_campaigns >= settings.retrain_min_new_campaigns:
        reasons.append(
            f"{new_labelled_campaigns} new labelled campaigns >= {settings.retrain_min_new_campaigns}"
        )
    return RetrainDecision(retrain=bool(reasons), reasons=reasons)
