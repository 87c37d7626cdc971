"""Training behaviour: it learns, stops early, is reproducible, calibrates, leaves global state alone."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from loyaltylens.errors import InvalidInputError
from loyaltylens.propensity.frame import feature_matrix, label_vector
from loyaltylens.propensity.metrics import expected_calibration_error
from loyaltylens.propensity.scoring import score_frame
from loyaltylens.propensity.train import TrainConfig, TrainResult, fit_temperature, train_propensity


def test_training_learns_the_signal(trained: TrainResult) -> None:
    test = trained.split.test
    scores = score_frame(trained.model, test)

    auc = roc_auc_score(test["label"], scores)
    oracle = roc_auc_score(test["label"], test["true_propensity"])
    assert auc > 0.8
    assert auc > oracle - 0.04  # close to the best any model can do on these labels
    assert trained.history[-1].train_loss < trained.history[0].train_loss


def test_early_stopping_restores_the_best_epoch(make_frame) -> None:
    frame = make_frame(n_customers=400, n_snapshots=5, seed=3)
    config = TrainConfig(max_epochs=40, patience=1, seed=1, num_threads=1)

    result = train_propensity(frame, config)

    assert result.stopped_early and len(result.history) < config.max_epochs
    assert len(result.history) == result.best_epoch + config.patience
    best = result.history[result.best_epoch - 1]
    assert best.is_best and best.val_auc == max(epoch.val_auc for epoch in result.history)
    restored_auc = roc_auc_score(label_vector(result.split.val), score_frame(result.model, result.split.val))
    assert restored_auc == pytest.approx(best.val_auc, abs=1e-6)


def test_same_seed_same_model_other_seed_other_model(make_frame) -> None:
    frame = make_frame(n_customers=400, n_snapshots=4, seed=4)
    config = TrainConfig(max_epochs=2, seed=11, num_threads=1)

    first, second = train_propensity(frame, config), train_propensity(frame, config)
    other = train_propensity(frame, dataclasses.replace(config, seed=12))

    matrix = feature_matrix(first.split.test)
    assert np.array_equal(score_frame(first.model, matrix), score_frame(second.model, matrix))
    assert [e.val_auc for e in first.history] == [e.val_auc for e in second.history]
    assert not np.array_equal(score_frame(first.model, matrix), score_frame(other.model, matrix))


def test_training_leaves_global_rng_and_threads_alone(make_frame) -> None:
    frame = make_frame(n_customers=300, n_snapshots=4, seed=5)
    rng_state, threads = torch.get_rng_state(), torch.get_num_threads()

    train_propensity(frame, TrainConfig(max_epochs=1, num_threads=1))

    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads


def test_temperature_scaling_undoes_overconfidence(trained: TrainResult) -> None:
    model = copy.deepcopy(trained.model)
    final_layer = model.head[-1]
    with torch.no_grad():  # logits x 3: the same ranking, badly overconfident
        final_layer.weight.mul_(3.0)
        final_layer.bias.mul_(3.0)
    model.temperature.fill_(1.0)
    val = trained.split.val
    x_val, y_val = torch.from_numpy(feature_matrix(val)), label_vector(val)
    before = expected_calibration_error(y_val, score_frame(model, val))

    temperature = fit_temperature(model, x_val, y_val)

    after = expected_calibration_error(y_val, score_frame(model, val))
    assert temperature == pytest.approx(3.0 * trained.temperature, rel=0.05)
    assert after < before / 2


def test_calibration_does_not_hurt_ece(candidate) -> None:
    metrics = candidate.metrics
    assert metrics["test_ece"] <= max(metrics["uncalibrated_test_ece"], 0.03)
    assert metrics["test_auc"] == pytest.approx(metrics["uncalibrated_test_auc"], abs=1e-6)


@pytest.mark.parametrize(
    "bad", [{"max_epochs": 0}, {"patience": 0}, {"batch_size": 0}, {"learning_rate": 0.0}]
)
def test_invalid_train_config_is_rejected(bad: dict) -> None:
    with pytest.raises(InvalidInputError):
        TrainConfig(**bad)


def test_baselines_learn_on_the_same_split(candidate) -> None:
    for name in ("logistic_regression", "lightgbm"):
        assert candidate.metrics[f"{name}_test_auc"] > 0.8


def test_per_epoch_callback_sees_every_epoch(make_frame) -> None:
    seen = []
    result = train_propensity(
        make_frame(n_customers=300, n_snapshots=4, seed=6),
        TrainConfig(max_epochs=2, num_threads=1),
        seen.append,
    )
    assert seen == result.history and [e.epoch for e in seen] == [1, 2]
