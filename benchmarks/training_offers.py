"""Offer-aware training benchmark: which offer, honestly measured (run through ``benchmarks/training.py --offers``).

One run measures, on simulator v2 data:
  * the (customer, offer) pair training frame: treated assignments at every campaign, point-in-time features;
  * rolling origin over the last 3 campaigns (train < validation campaign < test campaign, retrained per
    origin): AUC of the TabTransformer, logistic regression and LightGBM on the pooled test campaigns with
    customer-cluster bootstrap intervals, and the paired TabTransformer - best baseline difference (the best
    baseline is chosen on validation AUC, never on test);
  * ceilings from the hidden truth: the per-pair oracle (true p_redeem of the offer sent) and the
    customer-only one (mean true p_redeem over the customer's eligible offers), AUC on active customers;
  * ECE of the TabTransformer next to the ECE a perfectly calibrated model shows at the same n;
  * within-customer NDCG@10 of the offers ranked by each model against the true p_redeem of every eligible
    offer of the test campaigns, and the true p_redeem / incremental margin of the top pick;
  * batch scoring of every (member, active offer) pair at the end of the period;
  * with ``--million``: generating 1M customers and building their features, wall time and peak RSS of each
    (each in a child process of its own, ``benchmarks/million.py``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import million as million_benchmark
from loyaltylens.data import GeneratorConfig, dataset_id, generate_dataset, load_table
from loyaltylens.features.compute import as_of_timestamp, connect, snapshot_dates
from loyaltylens.features.pairs import build_pair_index, compute_pair_training_frame
from loyaltylens.groundtruth import (
    attach_assignment_truth,
    load_pair_truth,
    offer_choice_quality,
)
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.rolling import TABTRANSFORMER, FoldScores, rolling_origin
from loyaltylens.propensity.scoring import score_frame
from loyaltylens.propensity.train import TrainConfig
from loyaltylens.propensity.truth_evaluation import rolling_report

N_FOLDS = 3
LABEL_WINDOW_DAYS = 14


def offer_ranking(con, folds, dataset_dir: Path) -> dict[str, dict[str, float]]:
    """NDCG@10 and top-pick value of each model over every eligible offer of the test campaigns."""
    truth_pairs, scored = [], {}
    for fold in folds:
        campaign = int(attach_assignment_truth(fold.split.test.iloc[:1], dataset_dir)["campaign_id"].iloc[0])
        pairs = load_pair_truth(dataset_dir, [campaign])
        index = build_pair_index(con, fold.test_as_of.to_pydatetime())
        matrix = index.lookup(pairs["customer_id"].to_numpy(), pairs["offer_id"].to_numpy())
        pairs = pairs.assign(**{TABTRANSFORMER: score_frame(fold.transformer.model, matrix)})
        for name, baseline in fold.baselines.items():
            pairs[name] = baseline.predict(matrix)
        truth_pairs.append(pairs)
    frame = pd.concat(truth_pairs, ignore_index=True)
    for name in [
        c
        for c in frame.columns
        if c not in ("campaign_id", "customer_id", "offer_id", "p_redeem", "incremental_margin")
    ]:
        scored[name] = offer_choice_quality(frame, name)
    return scored


def eligible_pairs(dataset_dir: Path, customer_ids: np.ndarray, as_of) -> tuple[np.ndarray, np.ndarray]:
    """Every (member, offer) pair the simulator could send at ``as_of``: offers active that day, mobile-only
    offers to app users only."""
    offers = load_table(dataset_dir, "offers")
    day = pd.Timestamp(as_of)
    active = offers[(offers["start_date"] <= day) & (offers["end_date"] >= day)]
    has_app = load_table(dataset_dir, "customers").set_index("customer_id").loc[customer_ids, "has_app"].to_numpy()
    customers, offer_ids = [], []
    for app, pool in ((True, active["offer_id"]), (False, active.loc[active["channel"] != "mobile", "offer_id"])):
        ids = customer_ids[has_app == app]
        customers.append(np.repeat(ids, len(pool)))
        offer_ids.append(np.tile(pool.to_numpy(), len(ids)))
    return np.concatenate(customers), np.concatenate(offer_ids)


def batch_scoring(con, model, dataset_dir: Path, as_of) -> dict[str, float]:
    """Index build + lookup + scoring of every (member, eligible offer) pair at ``as_of``."""
    started = time.perf_counter()
    index = build_pair_index(con, as_of)
    customers, offer_ids = eligible_pairs(dataset_dir, index.customer_ids, as_of)
    built = time.perf_counter()
    matrix = index.lookup(customers, offer_ids)
    looked_up = time.perf_counter()
    scores = score_frame(model, matrix)
    done = time.perf_counter()
    return {
        "customers": len(index.customer_ids),
        "pairs": len(scores),
        "index_seconds": built - started,
        "lookup_seconds": looked_up - built,
        "scoring_seconds": done - looked_up,
        "total_seconds": done - started,
    }


def million_generation(workdir: Path) -> dict:
    """Generate 1M customers, then build their features, each in a child process of its own
    (``benchmarks/million.py``): wall time and peak RSS of each."""
    return million_benchmark.run(workdir)


OFFER_CHOICE_COLUMNS = (
    "NDCG@10 (random) / true p of top pick (random, oracle) / true margin EUR of top pick (random, best)"
)


def _offer_choice(q: dict[str, float]) -> str:
    return (
        f"{q['ndcg@10']:.4f} ({q['random_ndcg@10']:.4f}) / {q['top_pick_p_redeem']:.4f} "
        f"({q['random_pick_p_redeem']:.4f}, {q['oracle_pick_p_redeem']:.4f}) / "
        f"{q['top_pick_incremental_margin']:.3f} ({q['random_pick_incremental_margin']:.3f}, "
        f"{q['oracle_margin_pick_incremental_margin']:.3f})"
    )


def run(customers: int, workdir: Path, max_epochs: int, million: bool) -> tuple[dict, list[dict], str]:
    config = GeneratorConfig(n_customers=customers)
    started = time.perf_counter()
    dataset = generate_dataset(config, workdir / dataset_id(config)).path
    generate_s = time.perf_counter() - started

    started = time.perf_counter()
    con = connect(dataset)
    snapshots = snapshot_dates(dataset, as_of_timestamp(config.end), LABEL_WINDOW_DAYS)
    frame = compute_pair_training_frame(con, snapshots, LABEL_WINDOW_DAYS)
    frame_s = time.perf_counter() - started

    contract = FeatureContract.for_pairs()
    started = time.perf_counter()
    # One intra-op thread: on a shared 2-core machine more threads only add synchronisation.
    folds = rolling_origin(frame, contract, TrainConfig(max_epochs=max_epochs, num_threads=1), n_folds=N_FOLDS)
    train_s = time.perf_counter() - started

    summary = rolling_report([FoldScores.from_fold(f) for f in folds], dataset)
    models = [TABTRANSFORMER, *folds[0].baselines]
    (difference,) = [k for k in summary if k.startswith(f"rolling_{TABTRANSFORMER}_minus_") and k.endswith("_auc")]
    reference = difference.removeprefix(f"rolling_{TABTRANSFORMER}_minus_").removesuffix("_auc")
    ranking = offer_ranking(con, folds, dataset)
    scoring = batch_scoring(con, folds[-1].transformer.model, dataset, as_of_timestamp(config.end))
    million_result = million_generation(workdir) if million else None

    def interval(name: str) -> str:
        return f"{summary[name]:.4f} [{summary[name + '_ci_low']:.4f}, {summary[name + '_ci_high']:.4f}]"

    rows_out = [
        {
            "measure": "customers / pair training rows / positive rate",
            "value": f"{customers:,} / {len(frame):,} / {frame['label'].mean():.4f}",
        },
        {
            "measure": "generate (s) / pair frame build (s) / rolling-origin training, 3 folds x 3 models (s)",
            "value": f"{generate_s:.1f} / {frame_s:.1f} / {train_s:.1f}",
        },
        *[
            {
                "measure": f"test AUC, {name} (pooled {N_FOLDS} campaigns, 95% cluster-bootstrap CI; per fold)",
                "value": f"{interval(f'rolling_{name}_auc')}; "
                + ", ".join(f"{summary[f'rolling_{name}_auc_origin{i}']:.4f}" for i in range(1, N_FOLDS + 1)),
            }
            for name in models
        ],
        {
            "measure": f"TabTransformer - best baseline ({reference}, chosen on validation), paired 95% CI",
            "value": interval(difference),
        },
        {
            "measure": "ceilings: per-pair oracle / customer-only oracle",
            "value": f"{summary['rolling_per_pair_oracle_auc']:.4f} / "
            f"{summary['rolling_customer_only_oracle_auc']:.4f}",
        },
        {
            "measure": "TabTransformer AUC on active customers (a purchase in the last 30 days)",
            "value": f"{summary['rolling_tabtransformer_auc_active']:.4f}",
        },
        {
            "measure": "TabTransformer ECE vs perfect-model ECE at the same n",
            "value": f"{summary['rolling_tabtransformer_ece']:.4f} vs "
            f"{summary['rolling_tabtransformer_ece_noise_floor']:.4f}",
        },
        *[
            {"measure": f"offer choice, {name}: {OFFER_CHOICE_COLUMNS}", "value": _offer_choice(q)}
            for name, q in ranking.items()
        ],
        {
            "measure": "batch scoring of every (member, active offer) pair at the end: pairs / index, lookup, score s",
            "value": f"{scoring['pairs']:,} / "
            + ", ".join(f"{scoring[k]:.2f}" for k in ("index_seconds", "lookup_seconds", "scoring_seconds")),
        },
    ]
    if million_result:
        rows_out.extend(million_benchmark.rows(million_result))
    results = {
        "customers": customers,
        "pair_rows": len(frame),
        "generate_seconds": generate_s,
        "pair_frame_seconds": frame_s,
        "training_seconds": train_s,
        "rolling": summary,
        "offer_choice": ranking,
        "batch_scoring": scoring,
        "million_generation": million_result,
    }
    notes = (
        "Rolling origin: each test campaign's models are trained on the campaigns before its validation campaign; "
        "early stopping, temperature and the choice of best baseline read validation only (the same summary as "
        "the rolling_evaluation pipeline: loyaltylens.propensity.truth_evaluation.rolling_report). Test rows are "
        "treated assignments (label: that offer redeemed within 14 days)."
    )
    return results, rows_out, notes
