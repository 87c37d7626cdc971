"""Copy quality from ratings: rolling 7-day mean stars and thumbs-up rate per prompt version and generator
version (the dashboard's series, and what the retraining trigger reads)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from loyaltylens.config import Settings
from loyaltylens.feedback.store import open_feedback_store

VERSION_KEYS = ["prompt_version", "generator_version"]
QUALITY_COLUMNS = [*VERSION_KEYS, "mean_stars", "thumbs_up_rate", "star_ratings", "thumb_ratings"]


def _daily_sums(frame: pd.DataFrame) -> pd.DataFrame:
    """Per version pair and UTC day: star sum and count, thumbs up and thumbs given."""
    stars = frame["stars"].astype("float64")
    return (
        frame.assign(
            day=frame["rated_at"].dt.floor("D"),
            star_sum=stars.fillna(0.0),
            star_ratings=stars.notna().astype(int),
            thumbs_up=(frame["thumb"] == "up").astype(int),
            thumb_ratings=frame["thumb"].notna().astype(int),
        )
        .groupby([*VERSION_KEYS, "day"])[["star_sum", "star_ratings", "thumbs_up", "thumb_ratings"]]
        .sum()
    )


def _with_rates(sums: pd.DataFrame) -> pd.DataFrame:
    out = sums.copy()
    out["mean_stars"] = (sums["star_sum"] / sums["star_ratings"]).where(sums["star_ratings"] > 0)
    out["thumbs_up_rate"] = (sums["thumbs_up"] / sums["thumb_ratings"]).where(sums["thumb_ratings"] > 0)
    return out


def rolling_quality(frame: pd.DataFrame, window_days: int = 7) -> pd.DataFrame:
    """One row per version pair and day (from its first rating to the last day rated): the mean stars and the
    thumbs-up rate over the ``window_days`` days ending that day, and the rating counts behind them.

    ``frame`` is :meth:`FeedbackStore.feedback_frame`. Columns: ``day`` + :data:`QUALITY_COLUMNS`.
    """
    if frame.empty:
        return pd.DataFrame(columns=["day", *QUALITY_COLUMNS])
    sums = _daily_sums(frame)
    last_day = sums.index.get_level_values("day").max()
    series = []
    for versions, group in sums.groupby(level=VERSION_KEYS):
        daily = group.droplevel(VERSION_KEYS)
        days = pd.date_range(daily.index.min(), last_day, freq="D")
        window = daily.reindex(days, fill_value=0).rolling(window_days, min_periods=1).sum()
        series.append(window.assign(**dict(zip(VERSION_KEYS, versions, strict=True))).rename_axis("day"))
    rolled = _with_rates(pd.concat(series).reset_index())
    return rolled[["day", *QUALITY_COLUMNS]].sort_values(["day", *VERSION_KEYS], ignore_index=True)


def window_quality(frame: pd.DataFrame, as_of: datetime, window_days: int = 7) -> pd.DataFrame:
    """Per version pair, the quality of the ratings in the ``window_days`` before ``as_of``: :data:`QUALITY_COLUMNS`."""
    in_window = frame[(frame["rated_at"] > as_of - timedelta(days=window_days)) & (frame["rated_at"] <= as_of)]
    if in_window.empty:
        return pd.DataFrame(columns=QUALITY_COLUMNS)
    sums = _daily_sums(in_window).groupby(level=VERSION_KEYS).sum()
    return _with_rates(sums).reset_index()[QUALITY_COLUMNS]


def recent_quality(settings: Settings, as_of: datetime) -> pd.DataFrame:
    """:func:`window_quality` of the settings' feedback store over ``settings.feedback_window_days``."""
    since = as_of - timedelta(days=settings.feedback_window_days)
    with open_feedback_store(settings) as store:
        frame = store.feedback_frame(since=since)
    return window_quality(frame, as_of, settings.feedback_window_days)
