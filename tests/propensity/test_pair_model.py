"""The offer-aware pair model: it uses the offer, exports to TorchScript and ONNX with parity, and is judged
by rolling origin with paired bootstrap intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from loyaltylens.features.definitions import OFFER_CHANNELS
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.export import PARITY_TOLERANCE, export_model, export_onnx, load_model_dir
from loyaltylens.propensity.frame import feature_matrix
from loyaltylens.propensity.metrics import expected_calibration_error
from loyaltylens.propensity.rolling import TABTRANSFORMER, rolling_origin
from loyaltylens.propensity.train import TrainConfig, train_propensity
from loyaltylens.propensity.uncertainty import bootstrap_auc, ece_noise_floor
from loyaltylens.vocabulary import PRODUCT_CATEGORIES

PAIR_CONFIG = TrainConfig(max_epochs=4, patience=2, seed=7, num_threads=1)
PAIRS = FeatureContract.for_pairs()


def synthetic_pair_frame(make_frame, n_customers: int = 1000, n_snapshots: int = 6, seed: int = 1) -> pd.DataFrame:
    """Customer rows of the synthetic frame, each with one random offer; the label depends on the offer's
    discount, on whether it matches the customer's channel and on the category share."""
    rng = np.random.default_rng(seed)
    frame = make_frame(n_customers, n_snapshots, treated_share=1.0, seed=seed)
    n = len(frame)
    offer_channel = rng.integers(0, len(OFFER_CHANNELS), n)
    channel_match = np.where(
        offer_channel == len(OFFER_CHANNELS) - 1, 0.5, (offer_channel == frame["channel_preference"]).astype(float)
    )
    pair = {
        "offer_id": rng.integers(1, 200, n),
        "discount_pct": rng.choice([5, 10, 20, 30, 40], n).astype(float),
        "min_spend": rng.choice([0, 10, 25, 50], n).astype(float),
        "bonus_points": rng.choice([0, 50, 100], n).astype(float),
        "offer_category": rng.integers(0, len(PRODUCT_CATEGORIES), n),
        "offer_channel": offer_channel,
        "category_share_365d": rng.beta(1, 6, n),
        "channel_match": channel_match,
        "min_spend_ratio": rng.uniform(0, 3, n),
        "days_since_category_purchase": np.minimum(rng.exponential(40, n), 365.0),
        "category_redemption_rate": rng.beta(1, 15, n),
    }
    logit = np.log(frame["true_propensity"] / (1 - frame["true_propensity"])) - 2.0
    logit += (
        0.06 * (pair["discount_pct"] - 20) + 1.5 * (channel_match - 0.5) + 6.0 * (pair["category_share_365d"] - 0.15)
    )
    p = 1 / (1 + np.exp(-logit))
    return frame.assign(**pair, label=(rng.random(n) < p).astype(np.int64), true_propensity=p)


@pytest.fixture(scope="module")
def pair_frame(make_frame) -> pd.DataFrame:
    return synthetic_pair_frame(make_frame)


@pytest.fixture(scope="module")
def folds(pair_frame: pd.DataFrame):
    return rolling_origin(pair_frame, PAIRS, PAIR_CONFIG, n_folds=3)


def test_rolling_origin_tests_each_of_the_last_campaigns_after_its_validation(pair_frame, folds) -> None:
    dates = np.sort(pair_frame["as_of"].unique())
    assert [f.test_as_of for f in folds] == [pd.Timestamp(d) for d in dates[-3:]]
    for fold in folds:
        assert (fold.split.train["as_of"] < fold.split.val["as_of"].min()).all()
        assert (fold.split.val["as_of"] < fold.test_as_of).all() and (fold.split.test["as_of"] == fold.test_as_of).all()
        assert set(fold.test_scores) == {TABTRANSFORMER, "logistic_regression", "lightgbm"}
        assert all(len(s) == len(fold.split.test) for s in fold.test_scores.values())


def test_the_pair_model_scores_a_better_fitting_offer_higher(folds) -> None:
    """Directional: the same customers score higher with a deep discount on their channel in a category they
    buy than with a shallow one elsewhere in a category they never buy."""
    fold = folds[-1]
    test = fold.split.test
    fitting = test.assign(discount_pct=40.0, channel_match=1.0, category_share_365d=0.5)
    unfitting = test.assign(discount_pct=5.0, channel_match=0.0, category_share_365d=0.01)
    score = lambda rows: fold.transformer.model(torch.from_numpy(feature_matrix(rows, PAIRS.names)))  # noqa: E731
    with torch.no_grad():
        higher = (score(fitting) > score(unfitting)).numpy()
    assert higher.mean() > 0.95
    labels = test["label"].to_numpy()
    assert roc_auc_score(labels, fold.test_scores[TABTRANSFORMER]) > 0.75


def test_torchscript_and_onnx_match_eager(pair_frame, tmp_path: Path) -> None:
    result = train_propensity(pair_frame, PAIR_CONFIG, contract=PAIRS)
    rows = torch.from_numpy(feature_matrix(result.split.test.iloc[:256], PAIRS.names))
    model_dir = export_model(result.model, PAIRS, tmp_path, parity_rows=rows)
    onnx_path = export_onnx(result.model, PAIRS, tmp_path, parity_rows=rows)
    scripted, contract = load_model_dir(model_dir)
    assert contract.names == PAIRS.names and contract.n_features == len(PAIRS.fields)
    with torch.no_grad():
        eager = result.model(rows).numpy()
        assert np.abs(scripted(rows).numpy() - eager).max() <= PARITY_TOLERANCE
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {PAIRS.input_name: rows.numpy()})
    assert onnx_out.shape == (len(rows), 1)
    assert np.abs(onnx_out - eager).max() <= PARITY_TOLERANCE


def test_paired_bootstrap_difference_of_a_model_with_itself_is_exactly_zero() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(3000) < 0.1
    score = labels * 0.3 + rng.random(3000)
    comparison = bootstrap_auc(labels, {"a": score, "b": score.copy()}, np.arange(3000) // 3, "a", replicates=50)
    assert comparison.difference["b"].low == comparison.difference["b"].high == 0.0
    interval = comparison.auc["a"]
    assert interval.low < interval.estimate < interval.high


def test_paired_bootstrap_separates_a_better_model_and_clusters_widen_the_interval() -> None:
    rng = np.random.default_rng(1)
    truth = rng.random(4000)
    labels = rng.random(4000) < truth
    better, worse = truth + rng.normal(0, 0.1, 4000), truth + rng.normal(0, 0.6, 4000)
    rows = bootstrap_auc(labels, {"worse": worse, "better": better}, np.arange(4000), "worse", replicates=100)
    assert rows.difference["better"].low > 0
    clustered = bootstrap_auc(labels, {"worse": worse, "better": better}, np.arange(4000) // 40, "worse", 100)
    width = lambda i: i.high - i.low  # noqa: E731
    assert width(clustered.auc["better"]) > width(rows.auc["better"]) * 0.8


def test_ece_noise_floor_is_what_a_calibrated_model_shows_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(2)
    scores = rng.beta(1, 15, 20_000)
    labels = rng.random(len(scores)) < scores
    floor = ece_noise_floor(scores, simulations=30)
    assert expected_calibration_error(labels, scores) < 3 * floor
    assert ece_noise_floor(scores[:2000], simulations=30) > floor
    assert expected_calibration_error(labels, np.clip(scores * 1.6, 0, 1)) > 3 * floor
