"""Retrieval quality on held-out customers: the only retrieval module that reads the simulator's hidden truth.

Two kinds of relevance:
* **truth**: for every (customer, offer) the true probability that the customer redeems the offer if it is
  sent, as the simulator recorded it for every eligible offer of its latest campaign (``truth/pair_truth``);
  offers not eligible then gain nothing. NDCG@10 uses it as graded gain; recall@50 is the expected share of
  the customer's would-be redemptions among the top 50.
* **category** (the reference design's): an offer is relevant if its category is one of the customer's
  preferred categories; P@5.

Held-out customers are a fixed hash-based share of the population: nothing in retrieval is fitted on
them (the query template and the fusion constant were chosen on the other customers).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from loyaltylens.data import load_table
from loyaltylens.retrieval.base import OfferRetriever
from loyaltylens.retrieval.query import build_customer_query, customer_histories

HELD_OUT_SHARE = 0.2


def is_held_out(customer_ids: np.ndarray, share: float = HELD_OUT_SHARE) -> np.ndarray:
    """Deterministic split by a hash of the id (independent of population size and seed)."""
    buckets = [int(hashlib.sha256(str(int(c)).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF for c in customer_ids]
    return np.asarray(buckets) < share


def true_redemption_probability(customer_ids: list[int], pair_truth: pd.DataFrame, offers: pd.DataFrame) -> np.ndarray:
    """``[customers, offers]`` true P(redeem | sent) in each customer's latest campaign in ``pair_truth``; 0 for
    offers that were not eligible for the customer then (and for customers the truth does not cover)."""
    latest_of_customer = pair_truth.groupby("customer_id")["campaign_id"].transform("max")
    latest = pair_truth[pair_truth["campaign_id"] == latest_of_customer]
    table = latest.pivot_table(index="customer_id", columns="offer_id", values="p_redeem", aggfunc="max")
    table = table.reindex(index=list(customer_ids), columns=list(offers["offer_id"]))
    return table.fillna(0.0).to_numpy(dtype=float)


def ndcg_at(ranked_gains: np.ndarray, all_gains: np.ndarray, k: int) -> float:
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float((ranked_gains[:k] * discounts[: len(ranked_gains[:k])]).sum())
    ideal = np.sort(all_gains)[::-1][:k]
    idcg = float((ideal * discounts[: len(ideal)]).sum())
    return dcg / idcg if idcg > 0 else 0.0


@dataclass(frozen=True)
class ModeQuality:
    mode: str
    p_at_5_category: float
    ndcg_at_10_truth: float
    recall_at_50_truth: float
    customers: int


def evaluate_retriever(
    retriever: OfferRetriever,
    dataset_dir: Path,
    records: list[dict],
    modes: tuple[str, ...] = ("dense", "sparse", "hybrid"),
    max_customers: int = 300,
) -> list[ModeQuality]:
    """Quality per search mode on the held-out customers among ``records`` (online features of the
    dataset's customers), over the whole catalog restricted to each customer's channel."""
    offers = load_table(dataset_dir, "offers")
    held_out = [
        r for r, keep in zip(records, is_held_out(np.array([r["customer_id"] for r in records])), strict=True) if keep
    ]
    covered = set(load_table(dataset_dir, "pair_truth")["customer_id"].unique().tolist())
    held_out = [r for r in held_out if r["customer_id"] in covered][:max_customers]  # truth to judge them by
    histories = customer_histories(
        load_table(dataset_dir, "transactions"), offers, [r["customer_id"] for r in held_out]
    )
    p_redeem = true_redemption_probability(
        [r["customer_id"] for r in held_out], load_table(dataset_dir, "pair_truth"), offers
    )
    column = {int(offer_id): i for i, offer_id in enumerate(offers["offer_id"])}
    channels = offers["channel"].to_numpy()
    results = []
    for mode in modes:
        precision, ndcg, recall = [], [], []
        for row, record in enumerate(held_out):
            query = build_customer_query(record, histories[record["customer_id"]])
            eligible = np.isin(channels, query.filters.channels)
            gains = np.where(eligible, p_redeem[row], 0.0)
            hits = retriever.search(query.text, 50, query.filters, mode)
            ranked = np.array([gains[column[h.offer_id]] for h in hits])
            precision.append(np.mean([h.category in query.categories for h in hits[:5]]) if hits else 0.0)
            ndcg.append(ndcg_at(ranked, gains[eligible], 10))
            recall.append(ranked.sum() / gains.sum())
        results.append(
            ModeQuality(mode, float(np.mean(precision)), float(np.mean(ndcg)), float(np.mean(recall)), len(held_out))
        )
    return results
