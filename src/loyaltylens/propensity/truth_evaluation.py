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

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from loyaltylens.features.compute import connect
from loyaltylens.features.definitions import ENTITY_COLUMN, LABEL_COLUMN, OFFER_COLUMN
from loyaltylens.features.pairs import build_pair_index
from loyaltylens.groundtruth import campaign_as_of, customer_only_ceiling, load_pair_truth, offer_choice_quality
from loyaltylens.propensity.scoring import score_frame

NDCG_K = 10
SCORE_COLUMN = "model_score"


def offer_truth_metrics(model_dir: Path, test: pd.DataFrame, dataset_dir: Path, k: int = NDCG_K) -> dict[str, float]:
    """Ceilings and offer-choice quality of the pair model in ``model_dir`` on the campaigns of ``test``.

    ``test`` holds pair rows with the truth attached (``campaign_id``). Metric names: ``customer_only_oracle_auc``,
    ``ndcg_at_{k}``, ``random_ndcg_at_{k}``, ``top_pick_p_redeem``, ``random_pick_p_redeem``,
    ``oracle_pick_p_redeem``, ``top_pick_incremental_margin``, ``random_pick_incremental_margin``,
    ``oracle_margin_pick_incremental_margin``.
    """
    campaigns = sorted(int(c) for c in test["campaign_id"].dropna().unique())
    pairs = load_pair_truth(dataset_dir, campaigns)
    as_of = campaign_as_of(dataset_dir)
    con = connect(dataset_dir)
    scored = []
    for campaign, group in pairs.groupby("campaign_id"):
        index = build_pair_index(con, as_of[int(campaign)].to_pydatetime())
        rows = index.lookup(group[ENTITY_COLUMN].to_numpy(), group[OFFER_COLUMN].to_numpy())
        scored.append(group.assign(**{SCORE_COLUMN: score_frame(model_dir, rows)}))
    quality = offer_choice_quality(pd.concat(scored, ignore_index=True), SCORE_COLUMN, k)
    ceiling = customer_only_ceiling(test, pairs)
    known = ~np.isnan(ceiling)
    return {
        "customer_only_oracle_auc": float(roc_auc_score(test[LABEL_COLUMN].to_numpy()[known], ceiling[known])),
        **{name.replace("@", "_at_"): value for name, value in quality.items()},
    }
