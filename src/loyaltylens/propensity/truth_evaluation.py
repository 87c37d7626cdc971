"""An offer-aware model against the simulator's hidden truth: ceilings and which offer it would pick.

Evaluation only (the pipeline's evaluate step, benchmarks): it reads the truth sidecar, which training never
does. For the test rows of a pair frame (truth attached by :func:`loyaltylens.groundtruth.attach_truth`) it
reports the two ceilings a model is bounded by (the per-pair oracle, ``oracle_auc`` in the headline
metrics, and the customer-only oracle: the mean true probability over the customer's eligible offers, the
best a model blind to the offer can do); and, over every eligible offer of each targeted customer in the
test campaigns, NDCG@k of the model's ranking against true redemption probability with the true value of
its top pick beside a random and the best offer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from loyaltylens.features.compute import connect
from loyaltylens.features.definitions import AS_OF_COLUMN, ENTITY_COLUMN, LABEL_COLUMN, OFFER_COLUMN
from loyaltylens.features.pairs import build_pair_index
from loyaltylens.groundtruth import (
    TRUE_P_REDEEM_COLUMN,
    attach_assignment_truth,
    campaign_as_of,
    customer_only_ceiling,
    load_pair_truth,
    offer_choice_quality,
)
from loyaltylens.propensity.metrics import expected_calibration_error
from loyaltylens.propensity.rolling import ACTIVE_FEATURE, TABTRANSFORMER, FoldScores
from loyaltylens.propensity.scoring import score_frame
from loyaltylens.propensity.uncertainty import bootstrap_auc, ece_noise_floor

NDCG_K = 10
SCORE_COLUMN = "model_score"


def offer_truth_metrics(model_dir: Path, test: pd.DataFrame, dataset_dir: Path, k: int = NDCG_K) -> dict[str, float]:
    """Ceilings and offer-choice quality of the pair model in ``model_dir`` on the campaigns of ``test``.

    ``test`` holds pair rows with the truth attached (``campaign_id``). Metric names: ``customer_only_oracle_auc``,
    ``ndcg_at_{k}``, ``random_ndcg_at_{k}``, ``top_pick_p_redeem``, ``random_pick_p_redeem``,
    ``oracle_pick_p_redeem``, ``top_pick_incremental_margin``, ``random_pick_incremental_margin``,
    ``oracle_margin_pick_incremental_margin``.
    """
    pairs = load_pair_truth(dataset_dir, sorted(int(c) for c in test["campaign_id"].dropna().unique()))
    ceiling = customer_only_ceiling(test, pairs)
    known = ~np.isnan(ceiling)
    return {
        "customer_only_oracle_auc": float(roc_auc_score(test[LABEL_COLUMN].to_numpy()[known], ceiling[known])),
        **_offer_choice(model_dir, pairs, connect(dataset_dir), campaign_as_of(dataset_dir), k),
    }


def _offer_choice(
    model_dir: Path, pairs: pd.DataFrame, con, as_of: Mapping[int, pd.Timestamp], k: int
) -> dict[str, float]:
    """:func:`offer_choice_quality` of the model over the eligible ``pairs`` (pair truth rows), each campaign's
    pairs scored with their features as of its send day (computed on ``con``, the dataset's connection)."""
    scored = []
    for campaign, group in pairs.groupby("campaign_id"):
        index = build_pair_index(con, as_of[int(campaign)].to_pydatetime())
        rows = index.lookup(group[ENTITY_COLUMN].to_numpy(), group[OFFER_COLUMN].to_numpy())
        scored.append(group.assign(**{SCORE_COLUMN: score_frame(model_dir, rows)}))
    quality = offer_choice_quality(pd.concat(scored, ignore_index=True), SCORE_COLUMN, k)
    return {name.replace("@", "_at_"): value for name, value in quality.items()}


def rolling_report(
    folds: Sequence[FoldScores], dataset_dir: Path, model_dirs: Sequence[Path] = (), k: int = NDCG_K
) -> dict[str, float]:
    """The rolling-origin evaluation of a training recipe, as flat metrics (names ``rolling_…``).

    The test rows of every origin are pooled; each model's AUC gets a 95% customer-cluster bootstrap interval
    and each model's paired AUC difference to the best baseline (the baseline with the best mean validation AUC
    over the origins: test is never selected on) its own interval; per-origin AUCs, the pooled ECE of the
    TabTransformer next to a perfectly calibrated model's at the same n, AUC on active customers, the per-pair
    and customer-only ceilings from the truth; with ``model_dirs`` (the TabTransformer of each origin, same
    order), its mean NDCG@k over the origins' test campaigns.
    """
    rows = attach_assignment_truth(pd.concat([f.test for f in folds], ignore_index=True), dataset_dir)
    models = folds[0].models
    baselines = [m for m in models if m != TABTRANSFORMER]
    best = max(baselines, key=lambda m: float(np.mean([f.val_auc[m] for f in folds])))
    labels = rows[LABEL_COLUMN].to_numpy()
    comparison = bootstrap_auc(labels, {m: rows[m].to_numpy() for m in models}, rows[ENTITY_COLUMN].to_numpy(), best)
    metrics: dict[str, float] = {"rolling_origins": float(len(folds)), "rolling_test_rows": float(len(rows))}
    for model, interval in comparison.auc.items():
        metrics |= {f"rolling_{model}_auc": interval.estimate, f"rolling_{model}_auc_ci_low": interval.low}
        metrics[f"rolling_{model}_auc_ci_high"] = interval.high
        for i, fold in enumerate(folds, start=1):
            metrics[f"rolling_{model}_auc_origin{i}"] = float(roc_auc_score(fold.test[LABEL_COLUMN], fold.test[model]))
    for model, interval in comparison.difference.items():
        name = f"rolling_{model}_minus_{best}_auc"
        metrics |= {name: interval.estimate, f"{name}_ci_low": interval.low, f"{name}_ci_high": interval.high}
    transformer = rows[TABTRANSFORMER].to_numpy()
    metrics["rolling_tabtransformer_ece"] = expected_calibration_error(labels, transformer)
    metrics["rolling_tabtransformer_ece_noise_floor"] = ece_noise_floor(transformer)
    active = rows[ACTIVE_FEATURE].to_numpy() > 0 if ACTIVE_FEATURE in rows else None
    if active is not None and active.any():
        metrics["rolling_tabtransformer_auc_active"] = float(roc_auc_score(labels[active], transformer[active]))
    pairs = load_pair_truth(dataset_dir, sorted(int(c) for c in rows["campaign_id"].unique()))
    ceiling = customer_only_ceiling(rows, pairs)
    known = ~np.isnan(ceiling)
    metrics["rolling_per_pair_oracle_auc"] = float(roc_auc_score(labels, rows[TRUE_P_REDEEM_COLUMN]))
    metrics["rolling_customer_only_oracle_auc"] = float(roc_auc_score(labels[known], ceiling[known]))
    if model_dirs:
        # One connection and one pair-truth read serve every origin (each scored by its own model).
        con, as_of = connect(dataset_dir), campaign_as_of(dataset_dir)
        campaign_of = rows.groupby(AS_OF_COLUMN)["campaign_id"].first()
        ndcg = [
            _offer_choice(
                model_dir, pairs[pairs["campaign_id"] == campaign_of[fold.test[AS_OF_COLUMN].iloc[0]]], con, as_of, k
            )
            for fold, model_dir in zip(folds, model_dirs, strict=True)
        ]
        metrics[f"rolling_tabtransformer_ndcg_at_{k}"] = float(np.mean([m[f"ndcg_at_{k}"] for m in ndcg]))
        metrics[f"rolling_random_ndcg_at_{k}"] = float(np.mean([m[f"random_ndcg_at_{k}"] for m in ndcg]))
    return metrics


def rolling_markdown(metrics: Mapping[str, float]) -> str:
    """The rolling-origin metrics as a short report (MLflow artifact, pipeline Markdown output)."""
    lines = ["# Rolling-origin evaluation", "", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in metrics.items()]
    return "\n".join(lines) + "\n"
