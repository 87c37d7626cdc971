"""Synthetic inputs for exercising servers without a trained model: valid feature rows, an untrained model and
a margin model's opt-out part that never expects an opt-out.

Serving cost and serving correctness do not depend on what a model learned, so the serving tests and the
serving benchmark use an untrained TabTransformer of the production architecture, exported exactly like a
trained one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from loyaltylens.decision.margin import OptOutModel
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.export import export_model
from loyaltylens.propensity.model import PropensityConfig, TabTransformer

UNBOUNDED_MAX = 500.0  # upper end of generated values for features that have no maximum


def random_feature_rows(contract: FeatureContract, n: int, seed: int = 0) -> np.ndarray:
    """``n`` valid float32 rows in contract order: numerics inside their ranges, categoricals as codes."""
    rng = np.random.default_rng(seed)
    columns = []
    for spec in contract.fields:
        if spec.is_categorical:
            columns.append(rng.integers(0, len(spec.categories), n))
        else:
            high = spec.max_value if spec.max_value is not None else UNBOUNDED_MAX
            columns.append(rng.uniform(spec.min_value or 0.0, high, n))
    return np.stack(columns, axis=1).astype(np.float32)


def export_untrained_model(
    out_dir: Path,
    feature_version: str = "untrained",
    seed: int = 0,
    pairs: bool = False,
    contract: FeatureContract | None = None,
) -> Path:
    """Export a randomly initialised model whose input normalisation matches ``random_feature_rows``, so its
    answers still differ from row to row; ``pairs`` gives it the (customer, offer) pair contract, ``contract``
    any other."""
    if contract is None:
        contract = (FeatureContract.for_pairs if pairs else FeatureContract.from_definitions)(feature_version)
    torch.manual_seed(seed)
    model = TabTransformer(PropensityConfig(contract.numeric_index, contract.categorical_index, contract.cardinalities))
    rows = torch.from_numpy(random_feature_rows(contract, 512, seed=seed + 1))
    numeric = torch.log1p(rows[:, contract.numeric_index])
    model.set_normalization(numeric.mean(0), numeric.std(0))
    return export_model(model, contract, out_dir, parity_rows=rows[:16])


def never_opts_out(rows: np.ndarray) -> OptOutModel:
    """An opt-out model fitted on ``rows`` where nobody opted out: it predicts ~0 for every row, so a margin under
    test depends on the other terms only."""
    return OptOutModel().fit(rows, np.zeros(len(rows), dtype=int))
