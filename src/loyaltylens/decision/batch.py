"""Batch decisions for every customer of a campaign, in shards: the campaign pipeline's steps call these.

A campaign is sent on a feature version's as-of date to every member that version knows (its audience). The
audience and its eligible (customer, offer) pairs are listed once and cut into shards of whole customers; each
shard scores its pairs by expected incremental margin (:func:`score_pairs`: the same ``MarginModel.margins`` the
online ``DecisionChain`` uses); the send decision is then taken once over every shard's scored pairs
(:func:`decide_scored`: :func:`~loyaltylens.decision.policy.decide_campaign` with the campaign's budget and
contact cap), so sharding never changes a decision. Derivation of the margin: docs/DECISION.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from loyaltylens.data.io import file_digest, read_manifest
from loyaltylens.decision.campaign import eligible_pairs
from loyaltylens.decision.margin import MARGIN_MODEL_FILENAME, MarginModel
from loyaltylens.decision.policy import COST, CUSTOMER, MARGIN, OFFER, SendLimits, decide_campaign
from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.features.compute import connect
from loyaltylens.features.store import FeatureStore
from loyaltylens.runtime.model_source import REGISTRY_URI_PREFIX

SHARD = "shard"
P_REDEEM = "p_redeem"
NO_ELIGIBLE_OFFER = "no eligible offer"
SCORED_COLUMNS: tuple[str, ...] = (CUSTOMER, OFFER, P_REDEEM, MARGIN, COST)
DECISION_COLUMNS: tuple[str, ...] = (CUSTOMER, OFFER, "send", P_REDEEM, MARGIN, COST, "reason")
# KFP parameters cannot be null: a negative budget or contact cap parameter means "no limit".
NO_LIMIT = -1
# What produced a decision, in each decision row and in the decisions artifact's metadata.
PROVENANCE: tuple[str, ...] = ("model_name", "model_version", "feature_version", "margin_model")


@dataclass(frozen=True)
class CampaignAudience:
    """Who a campaign decides for: every member of ``feature_version`` and their eligible pairs, by shard."""

    feature_version: str
    as_of: str  # ISO date the campaign is sent on: the features use events before it
    customers: pd.DataFrame  # customer_id, shard: one row per member, by id
    pairs: pd.DataFrame  # customer_id, offer_id, shard: the eligible pairs, by customer then offer

    @property
    def shards(self) -> list[int]:
        return sorted(self.customers[SHARD].unique().tolist())


def campaign_audience(
    dataset_dir: Path, store: FeatureStore, feature_version: str, window_days: int, shards: int
) -> CampaignAudience:
    """Every member of ``feature_version`` (resolved: ``latest`` becomes a name) and the offers each may receive
    on its as-of (active over the whole ``window_days`` window, mobile offers only with the app), cut into at
    most ``shards`` contiguous shards of whole customers.

    The offers' dates and the customers' app flag are the dataset's, so ``dataset_dir`` must be the dataset the
    version was built from.

    Raises:
        InvalidInputError: ``shards`` < 1, or ``dataset_dir`` is not the version's dataset.
    """
    if shards < 1:
        raise InvalidInputError(f"a campaign needs at least 1 shard, got {shards}")
    info = store.describe(feature_version)
    content_hash = read_manifest(dataset_dir)["content_hash"]
    if info.dataset_hash is not None and content_hash != info.dataset_hash:
        raise InvalidInputError(
            f"dataset {dataset_dir} (content hash {content_hash[:12]}) is not the one feature version "
            f"{info.version} was built from ({info.dataset_hash[:12]})"
        )
    customer_ids = store.get_online_frame(info.version)[CUSTOMER].to_numpy(np.int64)
    # Shard k holds the customers at positions [k n / S, (k + 1) n / S): equal sizes, whole customers.
    shard = np.arange(len(customer_ids)) * min(shards, max(len(customer_ids), 1)) // max(len(customer_ids), 1)
    customers = pd.DataFrame({CUSTOMER: customer_ids, SHARD: shard})
    con = connect(dataset_dir)
    try:
        pairs = eligible_pairs(con, customer_ids, pd.Timestamp(info.as_of).to_pydatetime(), window_days)
    finally:
        con.close()
    pairs[SHARD] = shard[np.searchsorted(customer_ids, pairs[CUSTOMER].to_numpy(np.int64))]
    return CampaignAudience(info.version, info.as_of, customers, pairs)


def score_pairs(
    pairs: pd.DataFrame, rows: np.ndarray, raw_p_redeem: np.ndarray, margin_model: MarginModel
) -> pd.DataFrame:
    """``pairs``' (customer, offer) with their recalibrated ``p_redeem``, ``expected_margin`` and
    ``expected_cost`` (p_redeem x discount + points), from their pair feature ``rows`` and the model's raw
    scores of them: the margin exactly as the online chain computes it (``MarginModel.margins``)."""
    p, terms = margin_model.margins(rows, raw_p_redeem)
    return pd.DataFrame(
        {
            CUSTOMER: pairs[CUSTOMER].to_numpy(np.int64),
            OFFER: pairs[OFFER].to_numpy(np.int64),
            P_REDEEM: p,
            MARGIN: terms.expected_margin,
            COST: p * terms.redemption_cost,
        }
    )


def require_margin_model(margin_model: MarginModel | None, model_uri: str) -> MarginModel:
    """The margin model registered with ``model_uri``; a campaign decides by expected margin, so a version without
    one (exported outside the training pipeline) is refused rather than ranked by propensity."""
    if margin_model is None:
        raise NotFoundError(f"{model_uri} has no registered margin model: it cannot decide by expected margin")
    return margin_model


def score_shard(
    pairs: pd.DataFrame,
    shard: int,
    store: FeatureStore,
    feature_version: str,
    p_redeem: Callable[[np.ndarray], np.ndarray],
    margin_model: MarginModel,
    batch_rows: int,
) -> pd.DataFrame:
    """:func:`score_pairs` of the pairs of ``shard``, their features read from the store's ``feature_version``
    and scored ``batch_rows`` at a time by ``p_redeem`` (the model's raw p(redeem) of pair rows)."""
    mine = pairs[pairs[SHARD] == shard]
    if mine.empty:  # more shards than customers with an eligible offer
        return pd.DataFrame({name: np.empty(0, np.int64 if name in (CUSTOMER, OFFER) else np.float64)
                             for name in SCORED_COLUMNS})  # fmt: skip
    rows = store.get_pair_features(mine[CUSTOMER].to_numpy(), mine[OFFER].to_numpy(), feature_version).values
    raw = np.concatenate([np.asarray(p_redeem(rows[i : i + batch_rows])) for i in range(0, len(rows), batch_rows)])
    return score_pairs(mine, rows, raw, margin_model)


def decide_scored(
    scored: Sequence[pd.DataFrame], customers: pd.DataFrame, limits: SendLimits | None = None
) -> pd.DataFrame:
    """One row per customer of ``customers`` (``DECISION_COLUMNS``, by id): the send decision of
    :func:`decide_campaign` taken once over every shard's scored pairs, under the campaign's ``limits``; a
    customer with no eligible offer gets no offer and the reason :data:`NO_ELIGIBLE_OFFER`.

    The pairs are put in (customer, offer) order first, so the decisions do not depend on how they were cut.
    """
    candidates = pd.concat(list(scored), ignore_index=True).sort_values([CUSTOMER, OFFER], ignore_index=True)
    if candidates.duplicated([CUSTOMER, OFFER]).any():
        raise InvalidInputError("a (customer, offer) pair was scored by more than one shard")
    decided = decide_campaign(candidates, limits).merge(candidates[[CUSTOMER, OFFER, P_REDEEM]], how="left")
    unknown = ~decided[CUSTOMER].isin(customers[CUSTOMER])
    if unknown.any():
        raise InvalidInputError(f"scored customers outside the audience: {decided.loc[unknown, CUSTOMER][:5].tolist()}")
    without = customers.loc[~customers[CUSTOMER].isin(decided[CUSTOMER]), [CUSTOMER]]
    none = without.assign(
        **{OFFER: pd.array([pd.NA] * len(without), dtype="Int64"), "send": False, P_REDEEM: np.nan, MARGIN: np.nan},
        **{COST: 0.0, "reason": NO_ELIGIBLE_OFFER},
    )
    return (
        pd.concat([decided, none], ignore_index=True)[list(DECISION_COLUMNS)]
        .sort_values(CUSTOMER, ignore_index=True)
        .astype({OFFER: "Int64", "send": bool})
    )


def send_limits(budget_eur: float, contact_cap: int) -> SendLimits:
    """The campaign's :class:`SendLimits` from pipeline parameters (negative: :data:`NO_LIMIT`)."""
    return SendLimits(
        budget_eur=None if budget_eur < 0 else float(budget_eur), contact_cap=None if contact_cap < 0 else contact_cap
    )


def with_provenance(decisions: pd.DataFrame, provenance: dict[str, str]) -> pd.DataFrame:
    """``decisions`` with one column per :data:`PROVENANCE` key (every row carries the versions that made it)."""
    missing = set(PROVENANCE) - set(provenance)
    if missing:
        raise InvalidInputError(f"decision provenance lacks {sorted(missing)}")
    return decisions.assign(**{key: str(provenance[key]) for key in PROVENANCE})


def campaign_provenance(shard_metadata: Sequence[dict]) -> dict[str, str]:
    """The versions that scored every shard (model name and version from the shards' pinned ``models:/<name>/<n>``
    URI, feature version, margin model); they must be the same in all of them.

    Raises:
        InvalidInputError: no shard, or shards scored with different versions.
    """
    seen = {(m["model_uri"], m["feature_version"], m["margin_model"]) for m in shard_metadata}
    if len(seen) != 1:
        raise InvalidInputError(f"the shards were scored by {len(seen)} different model/feature versions: {seen}")
    ((model_uri, feature_version, margin_model),) = seen
    model_name, _, model_version = model_uri.removeprefix(REGISTRY_URI_PREFIX).rpartition("/")
    return {
        "model_name": model_name,
        "model_version": model_version,
        "feature_version": feature_version,
        "margin_model": margin_model,
    }


def margin_model_id(model_dir: Path) -> str:
    """The identity of the margin model registered in ``model_dir``: its file name and content hash."""
    return f"{MARGIN_MODEL_FILENAME}@{file_digest(Path(model_dir) / MARGIN_MODEL_FILENAME)}"
