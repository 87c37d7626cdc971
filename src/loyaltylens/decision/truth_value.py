"""What a decision policy truly earns on a campaign: evaluation only (it reads the simulator's hidden truth).

:func:`policy_truth_values` decides a whole campaign's targeted customers the way the product does (expected
incremental margin with the registered margin model, then the send rule of :func:`decide_campaign`) and prices
those decisions, and the usual alternatives, at the truth's incremental margin of each (customer, offer). The
decision code never imports this module (tests/test_architecture.py); ``make run`` and reports do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from loyaltylens.config import Settings
from loyaltylens.data.io import load_table
from loyaltylens.decision.campaign import eligible_pairs, logged_campaign
from loyaltylens.decision.evaluation import fit_margin_model, logged_value_of_decisions
from loyaltylens.decision.margin import MarginModel
from loyaltylens.decision.ope import bootstrap_interval
from loyaltylens.decision.policy import decide_campaign
from loyaltylens.decision.scorers import InProcessScorer
from loyaltylens.features.compute import connect
from loyaltylens.features.definitions import ENTITY_COLUMN, OFFER_COLUMN
from loyaltylens.features.pairs import build_pair_index
from loyaltylens.groundtruth import campaign_as_of, load_pair_truth

PROJECT = "LoyaltyLens: best expected margin, or nothing"
SEND_ALL = "send everyone its top-p(redeem) offer"
RANDOM = "send everyone a random eligible offer"
ORACLE = "oracle: the truly best offer, or nothing"
TRUTH_BOOTSTRAP_SAMPLES = 1000


@dataclass(frozen=True)
class PolicyTruth:
    policy: str
    eur_per_targeted: float  # mean true incremental margin per targeted customer, over sending nothing
    low: float  # 95% bootstrap interval of that mean (customers resampled)
    high: float
    share_sent: float


def last_truth_campaign(dataset_dir: Path) -> int:
    """The newest campaign the simulator recorded every eligible pair's truth of."""
    return int(load_pair_truth(dataset_dir)["campaign_id"].max())


@dataclass(frozen=True)
class CampaignPricing:
    """One campaign's targeted customers decided the product's way and each policy's choice priced at the truth."""

    campaign_id: int
    scored: pd.DataFrame  # eligible pairs: p_redeem (as the margin uses it), expected_margin, expected_cost, truth
    decisions: pd.DataFrame  # the project's, by customer id (decide_campaign)
    values: dict[str, np.ndarray]  # policy -> true incremental margin per targeted customer (sorted ids)
    shares: dict[str, float]  # policy -> share of targeted customers sent an offer


def price_campaign(
    dataset_dir: Path,
    campaign_id: int,
    margin_model: MarginModel,
    p_redeem: Callable[[np.ndarray], np.ndarray],
    settings: Settings,
) -> CampaignPricing:
    """Decide ``campaign_id``'s targeted customers by expected margin and price the project's choices, sending
    everyone its top-p(redeem) offer, a random eligible offer (its expectation) and the oracle at the truth;
    ``p_redeem`` scores pair feature rows (the model's raw output: the margin model recalibrates it)."""
    con, as_of = connect(dataset_dir), campaign_as_of(dataset_dir)[campaign_id].to_pydatetime()
    campaigns = load_table(dataset_dir, "campaigns")
    targeted = campaigns.loc[campaigns["campaign_id"] == campaign_id, ENTITY_COLUMN].to_numpy()
    pairs = eligible_pairs(con, targeted, as_of, settings.label_window_days)
    rows = build_pair_index(con, as_of).lookup(pairs[ENTITY_COLUMN].to_numpy(), pairs[OFFER_COLUMN].to_numpy())
    raw = np.asarray(p_redeem(rows), dtype=np.float64)
    p, terms = margin_model.margins(rows, raw)
    scored = pairs.assign(
        p_redeem=p,
        expected_margin=terms.expected_margin,
        expected_cost=p * terms.redemption_cost,
        redemption_cost=terms.redemption_cost,
    )
    truth = load_pair_truth(dataset_dir, [campaign_id])[[ENTITY_COLUMN, OFFER_COLUMN, "p_redeem", "incremental_margin"]]
    frame = scored.merge(truth.rename(columns={"p_redeem": "true_p_redeem"}), on=[ENTITY_COLUMN, OFFER_COLUMN])
    if len(frame) != len(scored):
        raise ValueError(f"campaign {campaign_id}: the truth lacks {len(scored) - len(frame)} eligible pairs")
    by_customer = frame.groupby(ENTITY_COLUMN)
    customers = np.sort(frame[ENTITY_COLUMN].unique())
    true_margin = frame.set_index([ENTITY_COLUMN, OFFER_COLUMN])["incremental_margin"]

    decisions = decide_campaign(frame).set_index(ENTITY_COLUMN).reindex(customers)
    sent = decisions["send"].fillna(False).astype(bool).to_numpy()
    decisions = decisions.assign(send=sent)
    chosen = pd.MultiIndex.from_arrays([customers, decisions[OFFER_COLUMN].fillna(-1).astype(np.int64).to_numpy()])
    project = np.where(sent, true_margin.reindex(chosen).fillna(0.0).to_numpy(), 0.0)
    top_p = frame.loc[by_customer["p_redeem"].idxmax()].set_index(ENTITY_COLUMN).reindex(customers)
    best = by_customer["incremental_margin"].max().reindex(customers).to_numpy()
    values = {
        PROJECT: project,
        SEND_ALL: top_p["incremental_margin"].to_numpy(),
        RANDOM: by_customer["incremental_margin"].mean().reindex(customers).to_numpy(),  # its expectation
        ORACLE: np.maximum(best, 0.0),
    }
    shares = {PROJECT: float(sent.mean()), SEND_ALL: 1.0, RANDOM: 1.0, ORACLE: float((best > 0).mean())}
    return CampaignPricing(campaign_id, frame, decisions, values, shares)


def _mean_interval(values: np.ndarray, seed: int) -> tuple[float, float]:
    """95% interval of the mean of ``values`` over customers resampled."""
    return bootstrap_interval(lambda i: values[i].mean(), len(values), seed, TRUTH_BOOTSTRAP_SAMPLES)


def policy_truth_values(
    dataset_dir: Path,
    campaign_id: int,
    margin_model: MarginModel,
    p_redeem: Callable[[np.ndarray], np.ndarray],
    settings: Settings,
) -> list[PolicyTruth]:
    """Each policy's true value on ``campaign_id``'s targeted customers (:func:`price_campaign`)."""
    priced = price_campaign(dataset_dir, campaign_id, margin_model, p_redeem, settings)
    return [
        PolicyTruth(name, float(v.mean()), *_mean_interval(v, settings.seed), priced.shares[name])
        for name, v in priced.values.items()
    ]


POLICY_METRIC_NAMES = {PROJECT: "project", SEND_ALL: "top_p", RANDOM: "random", ORACLE: "oracle"}


def policy_evaluation(
    dataset_dir: Path,
    deciders: Sequence[tuple[int, MarginModel, Callable[[np.ndarray], np.ndarray]]],
    settings: Settings,
) -> dict[str, float]:
    """The policy of several test campaigns, each decided by its own (margin model, model) fitted before it, as flat
    metrics (names ``policy_…``): every policy's true EUR per targeted customer pooled over the campaigns' customers
    with a 95% bootstrap interval and per campaign; the project's share of the oracle (paired interval); the
    project's IPS, SNIPS and DR estimates from each campaign's logs beside its truth; calibration where the decision
    acts (mean model and true p(redeem) on the offers sent); the share sent and the discount and points paid per
    targeted customer (the truth's p(redeem) times each sent offer's redemption cost)."""
    metrics: dict[str, float] = {"policy_test_campaigns": float(len(deciders))}
    pooled: dict[str, list[np.ndarray]] = {name: [] for name in POLICY_METRIC_NAMES}
    sent_rows, targeted = [], 0
    for campaign_id, margin_model, p_redeem in deciders:
        priced = price_campaign(dataset_dir, campaign_id, margin_model, p_redeem, settings)
        for name, values in priced.values.items():
            pooled[name].append(values)
            metrics[f"policy_{POLICY_METRIC_NAMES[name]}_eur_campaign{campaign_id}"] = float(values.mean())
        logs = logged_campaign(
            dataset_dir,
            campaign_id,
            settings.label_window_days,
            margin_model.economics,
            priced.scored.groupby(ENTITY_COLUMN).size(),
        )
        logged = logged_value_of_decisions(priced.scored, priced.decisions, logs)
        for estimator, estimate in logged.value.items():
            name = f"policy_project_{estimator}_campaign{campaign_id}"
            metrics |= {name: estimate.value, f"{name}_low": estimate.low, f"{name}_high": estimate.high}
        sent_decisions = priced.decisions[priced.decisions["send"]]
        keys = pd.MultiIndex.from_arrays([sent_decisions.index, sent_decisions[OFFER_COLUMN].astype(np.int64)])
        sent_rows.append(priced.scored.set_index([ENTITY_COLUMN, OFFER_COLUMN]).loc[keys])
        targeted += len(priced.decisions)
    values = {name: np.concatenate(parts) for name, parts in pooled.items()}
    for name, v in values.items():
        low, high = _mean_interval(v, settings.seed)
        short = POLICY_METRIC_NAMES[name]
        metrics |= {
            f"policy_{short}_eur": float(v.mean()),
            f"policy_{short}_eur_low": low,
            f"policy_{short}_eur_high": high,
        }
    project, oracle = values[PROJECT], values[ORACLE]
    metrics["policy_share_of_oracle"] = float(project.mean() / oracle.mean())
    metrics["policy_share_of_oracle_low"], metrics["policy_share_of_oracle_high"] = bootstrap_interval(
        lambda i: project[i].mean() / oracle[i].mean(), len(project), settings.seed, TRUTH_BOOTSTRAP_SAMPLES
    )  # paired: the same customers resampled for both
    sent = pd.concat(sent_rows)
    metrics["policy_share_sent"] = len(sent) / targeted
    metrics["policy_discount_spend_eur_per_targeted"] = float(
        (sent["true_p_redeem"] * sent["redemption_cost"]).sum() / targeted
    )
    if len(sent):  # nothing sent: no chosen offer to be calibrated on
        metrics["policy_chosen_p_redeem_model"] = float(sent["p_redeem"].mean())
        metrics["policy_chosen_p_redeem_true"] = float(sent["true_p_redeem"].mean())
    return metrics


def rolling_policy_evaluation(
    dataset_dir: Path, test_as_of: Sequence[pd.Timestamp], model_dirs: Sequence[Path], settings: Settings
) -> dict[str, float]:
    """:func:`policy_evaluation` of a rolling-origin backtest: each origin's test campaign (its ``test_as_of``) is
    decided with that origin's exported model (``model_dirs``, same order) and a margin model fitted on the logs
    before the origin's validation campaign (the one before the test campaign), as the training pipeline fits
    the registered model's."""
    campaign_of = {as_of.normalize(): k for k, as_of in campaign_as_of(dataset_dir).items()}
    deciders = []
    for as_of, model_dir in zip(test_as_of, model_dirs, strict=True):
        campaign, score = campaign_of[pd.Timestamp(as_of).normalize()], InProcessScorer(Path(model_dir)).score
        deciders.append((campaign, fit_margin_model(score, dataset_dir, campaign - 1, settings), score))
    return policy_evaluation(dataset_dir, deciders, settings)
