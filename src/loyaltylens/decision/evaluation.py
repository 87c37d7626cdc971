"""A propensity model's policy value on the validation campaign, from the logs only, and the registration rule
that compares a challenger with the champion on it (CI-aware, paired on the same logged rows).

The eval gate calls :meth:`ValidationCampaign.policy_value` and :func:`challenger_not_worse`; the learnt parts of
the margin are fitted on the campaigns before validation, never on test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from loyaltylens.config import Settings
from loyaltylens.data.io import load_table, read_manifest
from loyaltylens.decision.campaign import (
    eligible_pairs,
    fit_anyway_model,
    fit_opt_out_model,
    fit_redeemer_anyway_shift,
    logged_campaign,
    policy_dr_terms,
    policy_value_from_logs,
)
from loyaltylens.decision.margin import (
    AnywayModel,
    Economics,
    MarginModel,
    OptOutModel,
    PairLogisticModel,
    PlattRecalibration,
    blend_redeem_probability,
)
from loyaltylens.decision.ope import Estimate, paired_mean_difference
from loyaltylens.decision.policy import decide_campaign
from loyaltylens.features.compute import connect
from loyaltylens.features.definitions import (
    AS_OF_COLUMN,
    ENTITY_COLUMN,
    LABEL_COLUMN,
    OFFER_COLUMN,
    PAIR_FEATURE_NAMES,
)
from loyaltylens.features.pairs import build_pair_index, compute_pair_training_frame
from loyaltylens.propensity.frame import temporal_split

Scorer = Callable[[np.ndarray], np.ndarray]  # raw p(redeem) of pair feature rows


@dataclass(frozen=True)
class LoggedPolicyValue:
    """A campaign's decisions valued from its logs (:func:`logged_value_of_decisions`), with the per-row DR terms
    of their lift."""

    value: dict[str, Estimate]  # "ips", "snips", "dr": EUR per targeted customer over sending nothing
    dr_terms: np.ndarray  # per logged row, for paired comparisons
    share_sent: float
    expected_discount_spend_eur: float


def _campaign_dates(dataset_dir: Path) -> dict[int, pd.Timestamp]:
    dates = read_manifest(dataset_dir)["period"]["campaign_dates"]
    return {i + 1: pd.Timestamp(d) for i, d in enumerate(dates)}


def validation_campaign_of(dataset_dir: Path, as_of: pd.Timestamp) -> int:
    """The number (1-based) of the dataset's campaign sent on ``as_of`` (a training frame's snapshot date)."""
    for number, date in _campaign_dates(dataset_dir).items():
        if date.normalize() == as_of.normalize():
            return number
    raise ValueError(f"no campaign of {dataset_dir} was sent on {as_of.date()}")


@dataclass(frozen=True)
class MarginParts:
    """The learnt parts of the margin model that do not depend on the scored model, fitted on the logs before one
    campaign: the anyway and opt-out models (the ``fit_campaigns`` campaigns before it), the redeemers' anyway shift
    (those campaigns' sends whose next window has closed), the pair logistic model (the sends of all but the last of
    those), and the last labelled campaign before it, on which its blend with a model's score is recalibrated (its
    labels are known by the campaign's send day)."""

    anyway: AnywayModel
    redeemer_anyway_shift: float
    opt_out: OptOutModel
    pair_logistic: PairLogisticModel  # fitted on the sends before the campaign before
    economics: Economics
    recent_rows: np.ndarray  # pair features of the campaign before, with its labels below
    recent_labels: np.ndarray

    @classmethod
    def fit(
        cls,
        con: duckdb.DuckDBPyConnection,
        dates: dict[int, pd.Timestamp],
        campaign: int,
        settings: Settings,
        fit_campaigns: int = 8,
    ) -> MarginParts:
        window = settings.label_window_days
        earlier = list(range(max(1, campaign - fit_campaigns), campaign))
        if len(earlier) < 2:
            raise ValueError(f"campaign {campaign} has fewer than 2 campaigns before it to learn from")
        snapshots = [dates[k].to_pydatetime() for k in earlier]
        sends = compute_pair_training_frame(con, snapshots, window)  # the opt-out and pair logistic models' labels
        is_recent = (sends[AS_OF_COLUMN] == pd.Timestamp(snapshots[-1])).to_numpy()
        rows, labels = sends[list(PAIR_FEATURE_NAMES)].to_numpy(np.float32), sends[LABEL_COLUMN].to_numpy()
        anyway, before = fit_anyway_model(con, snapshots, window, settings.seed), dates[campaign].to_pydatetime()
        return cls(
            anyway=anyway,
            redeemer_anyway_shift=fit_redeemer_anyway_shift(con, sends, anyway, window, before),
            opt_out=fit_opt_out_model(con, sends, before, settings.seed),
            pair_logistic=PairLogisticModel().fit(rows[~is_recent], labels[~is_recent]),
            economics=Economics.from_settings(settings),
            recent_rows=rows[is_recent],
            recent_labels=labels[is_recent],
        )

    def margin_model(self, p_redeem: Scorer) -> MarginModel:
        """The :class:`MarginModel` deciding with ``p_redeem``: its blend with the pair logistic model recalibrated
        on the recent sends (:func:`recalibrate_blend`)."""
        recalibration = recalibrate_blend(p_redeem, self.pair_logistic, self.recent_rows, self.recent_labels)
        return MarginModel(
            self.anyway, self.opt_out, self.pair_logistic, recalibration, self.economics, self.redeemer_anyway_shift
        )


def recalibrate_blend(
    p_redeem: Scorer, pair_logistic: PairLogisticModel, recent_rows: np.ndarray, recent_labels: np.ndarray
) -> PlattRecalibration:
    """The Platt recalibration of ``p_redeem``'s blend with ``pair_logistic`` (:func:`blend_redeem_probability`)
    on recent sends the pair logistic model has not seen, so the drift to the decided campaign is corrected where
    it shows last."""
    blend = blend_redeem_probability(recent_rows, p_redeem(recent_rows), pair_logistic)
    return PlattRecalibration().fit(blend, recent_labels)


@dataclass(frozen=True)
class ValidationCampaign:
    """Everything of the validation campaign's evaluation that does not depend on the scored model: the margin
    model's learnt parts (:class:`MarginParts`, fitted before it), the eligible pairs and their feature rows, and
    the logs. Prepared once, it scores many models on the same logged rows (:meth:`policy_value`)."""

    parts: MarginParts
    pairs: pd.DataFrame  # eligible (customer, offer) pairs of the validation campaign
    rows: np.ndarray  # their pair feature rows
    logs: pd.DataFrame

    @classmethod
    def prepare(
        cls, dataset_dir: Path, validation_campaign: int, settings: Settings, fit_campaigns: int = 8
    ) -> ValidationCampaign:
        """The margin model's parts are fitted on the campaigns before ``validation_campaign``
        (:meth:`MarginParts.fit`)."""
        con, dates = connect(dataset_dir), _campaign_dates(dataset_dir)
        parts = MarginParts.fit(con, dates, validation_campaign, settings, fit_campaigns)
        as_of = dates[validation_campaign].to_pydatetime()
        campaigns = load_table(dataset_dir, "campaigns")
        targeted = campaigns.loc[campaigns["campaign_id"] == validation_campaign, ENTITY_COLUMN].to_numpy()
        pairs = eligible_pairs(con, targeted, as_of, settings.label_window_days)
        index = build_pair_index(con, as_of)
        return cls(
            parts=parts,
            pairs=pairs,
            rows=index.lookup(pairs[ENTITY_COLUMN].to_numpy(), pairs[OFFER_COLUMN].to_numpy()),
            logs=logged_campaign(
                dataset_dir,
                validation_campaign,
                settings.label_window_days,
                parts.economics,
                pairs.groupby(ENTITY_COLUMN).size(),
            ),
        )

    def policy_value(self, p_redeem: Scorer) -> LoggedPolicyValue:
        """The policy value of deciding by expected margin with ``p_redeem`` on the campaign's logs."""
        model = self.parts.margin_model(p_redeem)
        pairs, logs = self.pairs, self.logs
        p, terms = model.margins(self.rows, p_redeem(self.rows))
        scored = pairs.assign(expected_margin=terms.expected_margin, expected_cost=p * terms.redemption_cost)
        return logged_value_of_decisions(scored, decide_campaign(scored).set_index(ENTITY_COLUMN), logs)


def logged_value_of_decisions(scored: pd.DataFrame, decisions: pd.DataFrame, logs: pd.DataFrame) -> LoggedPolicyValue:
    """IPS, SNIPS and DR estimates of ``decisions`` (by customer id: ``offer_id``, NA for none; ``send``;
    ``expected_cost``) from one campaign's :func:`logged_campaign` rows, the DR reward model built from ``scored``'s
    expected margins (``customer_id``, ``offer_id``, ``expected_margin`` per eligible pair)."""
    margin_by_pair = scored.set_index([ENTITY_COLUMN, OFFER_COLUMN])["expected_margin"]
    em_logged = margin_by_pair.reindex(pd.MultiIndex.from_frame(logs[[ENTITY_COLUMN, OFFER_COLUMN]])).to_numpy()
    chosen = logs[ENTITY_COLUMN].map(decisions[OFFER_COLUMN])
    em_chosen = margin_by_pair.reindex(
        pd.MultiIndex.from_arrays([logs[ENTITY_COLUMN], chosen.fillna(-1).astype(np.int64)])
    ).fillna(0.0)
    # The DR reward model's no-offer margin: the hold-out's mean reward (a constant keeps the estimate unbiased).
    baseline = np.full(len(logs), logs.loc[~logs["treated"], "reward"].mean())
    action_values = (baseline, em_logged, em_chosen.to_numpy())
    value = policy_value_from_logs(logs, decisions[OFFER_COLUMN], *action_values)
    row_terms = policy_dr_terms(logs, decisions[OFFER_COLUMN], *action_values)
    sent = decisions["send"].to_numpy()
    return LoggedPolicyValue(value, row_terms, float(sent.mean()), float(decisions.loc[sent, "expected_cost"].sum()))


def validation_campaign(dataset_dir: Path, training_frame: pd.DataFrame) -> int:
    """The number of the first campaign of the training frame's validation split (its send day is the date the
    margin model is fitted before)."""
    return validation_campaign_of(dataset_dir, pd.Timestamp(temporal_split(training_frame).val[AS_OF_COLUMN].min()))


def fit_margin_model(
    p_redeem: Scorer, dataset_dir: Path, campaign: int, settings: Settings, fit_campaigns: int = 8
) -> MarginModel:
    """The :class:`MarginModel` that decides ``campaign`` with ``p_redeem``, learnt from the logs before it only
    (:class:`MarginParts`)."""
    parts = MarginParts.fit(connect(dataset_dir), _campaign_dates(dataset_dir), campaign, settings, fit_campaigns)
    return parts.margin_model(p_redeem)


def validation_policy_value(
    p_redeem: Scorer, dataset_dir: Path, validation_campaign: int, settings: Settings, fit_campaigns: int = 8
) -> LoggedPolicyValue:
    """The policy value of deciding by expected margin with ``p_redeem`` on ``validation_campaign``'s logs
    (one model; :class:`ValidationCampaign` compares several on the same preparation)."""
    return ValidationCampaign.prepare(dataset_dir, validation_campaign, settings, fit_campaigns).policy_value(p_redeem)


def challenger_not_worse(challenger: LoggedPolicyValue, champion: LoggedPolicyValue) -> tuple[bool, Estimate]:
    """The registration rule: the challenger's policy value on validation must not fall below the champion's.
    Paired on the same logged rows, it fails only when the whole 95% interval of (challenger - champion) is
    below zero, so noise alone never blocks a release and a clear loss always does."""
    difference = paired_mean_difference(challenger.dr_terms, champion.dr_terms)
    return difference.high >= 0.0, difference
