"""Train the TabTransformer propensity model on a feature-store training frame.

Recipe: temporal split (frame.py) -> standardisation statistics of log1p(numeric) from the train split
-> AdamW on binary cross-entropy of the logits -> early stopping on validation AUC, best weights
restored -> temperature scaling fitted on validation (minimum NLL). The test split is never looked at
here; evaluation belongs to the caller.

Training is reproducible: one seed drives initialisation, dropout and shuffling, inside
``torch.random.fork_rng`` so the caller's global RNG state is left alone, and CPU kernels are
deterministic for a fixed thread count.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from loyaltylens.config import Settings, setting_default
from loyaltylens.errors import InvalidInputError
from loyaltylens.propensity.contract import FeatureContract
from loyaltylens.propensity.frame import (
    SplitConfig,
    TemporalSplit,
    feature_matrix,
    label_vector,
    temporal_split,
)
from loyaltylens.propensity.model import PropensityConfig, TabTransformer
from loyaltylens.propensity.scoring import predict_in_chunks, torch_threads

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and split settings; ``model`` overrides :class:`PropensityConfig` hyper-parameters."""

    max_epochs: int = field(default_factory=lambda: setting_default("max_epochs"))
    patience: int = field(default_factory=lambda: setting_default("early_stopping_patience"))
    min_improvement: float = 1e-4  # smaller AUC gains count as no improvement
    batch_size: int = 1024
    learning_rate: float = field(default_factory=lambda: setting_default("propensity_learning_rate"))
    weight_decay: float = 1e-4
    grad_clip_norm: float = 1.0
    seed: int = field(default_factory=lambda: setting_default("seed"))
    num_threads: int | None = None  # intra-op threads; default every core
    split: SplitConfig = field(default_factory=SplitConfig)
    model: dict[str, Any] = field(default_factory=dict)  # e.g. {"d_model": 32, "n_layers": 2}

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> TrainConfig:
        """The config the settings describe (``max_epochs``, ``early_stopping_patience``, ``seed``, the
        learning rate), with ``overrides`` applied."""
        defaults = {
            "max_epochs": settings.max_epochs,
            "learning_rate": settings.propensity_learning_rate,
            "patience": settings.early_stopping_patience,
            "seed": settings.seed,
        }
        return cls(**{**defaults, **overrides})

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.patience < 1 or self.batch_size < 1:
            raise InvalidInputError("max_epochs, patience and batch_size must be at least 1")
        if self.learning_rate <= 0:
            raise InvalidInputError("learning_rate must be positive")


@dataclass(frozen=True)
class EpochMetrics:
    """What one epoch produced; handed to the ``on_epoch`` callback as soon as the epoch ends."""

    epoch: int  # 1-based
    train_loss: float
    val_loss: float
    val_auc: float
    seconds: float
    is_best: bool


@dataclass
class TrainResult:
    """A trained, calibrated model in eval mode plus what it was trained on and how training went."""

    model: TabTransformer
    model_config: PropensityConfig
    config: TrainConfig
    contract: FeatureContract
    split: TemporalSplit
    history: list[EpochMetrics]
    best_epoch: int  # 1-based epoch whose weights the model holds
    stopped_early: bool  # early stopping ended training before max_epochs
    temperature: float
    seconds: float

    def params(self) -> dict[str, Any]:
        """Everything that defines this run, flat, for experiment tracking: the training settings and the
        model's effective hyper-parameters (defaults included, column layout left out)."""
        params = {k: v for k, v in asdict(self.config).items() if k not in ("split", "model")}
        params.update({f"split.{k}": v for k, v in asdict(self.config.split).items()})
        layout = ("numeric_index", "categorical_index", "cardinalities")
        params.update({f"model.{k}": v for k, v in asdict(self.model_config).items() if k not in layout})
        params["model.num_parameters"] = self.model.num_parameters()
        return params


def train_propensity(
    frame: pd.DataFrame,
    config: TrainConfig = TrainConfig(),
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    contract: FeatureContract | None = None,
) -> TrainResult:
    """Train and calibrate a propensity model on the treated rows of ``frame``.

    Args:
        frame: a training frame (see :mod:`loyaltylens.propensity.frame`).
        config: optimisation, split and model hyper-parameters.
        on_epoch: called after every epoch, e.g. to log metrics or advance a progress bar.
        contract: the model's input columns; by default the pair features when the frame's rows name an
            offer, else the customer features (:meth:`FeatureContract.for_frame`).

    Raises:
        DataValidationError: the frame cannot be trained on (empty, missing columns, one label class,
            too few rows or snapshots); raised before any training starts.
    """
    contract = contract or FeatureContract.for_frame(frame.columns)
    split = temporal_split(frame, config.split, contract)
    x_train = torch.from_numpy(feature_matrix(split.train, contract.names))
    y_train = torch.from_numpy(label_vector(split.train))
    x_val = torch.from_numpy(feature_matrix(split.val, contract.names))
    y_val = label_vector(split.val)
    model_config = PropensityConfig(
        numeric_index=contract.numeric_index,
        categorical_index=contract.categorical_index,
        cardinalities=contract.cardinalities,
        **config.model,
    )
    started = time.perf_counter()
    with torch_threads(config.num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = TabTransformer(model_config)
        model.set_normalization(*_log1p_statistics(x_train, model_config.numeric_index))
        history = _fit(model, x_train, y_train, x_val, y_val, config, on_epoch)
        temperature = fit_temperature(model, x_val, y_val)
    best_epoch = max(m.epoch for m in history if m.is_best)
    seconds = time.perf_counter() - started
    logger.info(
        "trained %d epochs (best %d, val AUC %.4f), temperature %.3f, %.1fs",
        len(history),
        best_epoch,
        history[best_epoch - 1].val_auc,
        temperature,
        seconds,
    )
    return TrainResult(
        model=model,
        model_config=model_config,
        config=config,
        contract=contract,
        split=split,
        history=history,
        best_epoch=best_epoch,
        stopped_early=len(history) < config.max_epochs,
        temperature=temperature,
        seconds=seconds,
    )


def fit_temperature(model: TabTransformer, x_val: torch.Tensor, y_val: np.ndarray) -> float:
    """Set ``model.temperature`` to the value minimising validation NLL (temperature scaling) and return it.

    Optimised in log space so the temperature stays positive; one scalar cannot change the ranking,
    so AUC is untouched and only calibration moves.
    """
    model.eval()
    logits = predict_in_chunks(model.logits, x_val).reshape(-1)
    targets = torch.from_numpy(np.asarray(y_val, dtype=np.float32))
    log_temperature = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_temperature], lr=0.1, max_iter=100, line_search_fn="strong_wolfe")
    loss_fn = nn.BCEWithLogitsLoss()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(logits / log_temperature.exp(), targets)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_temperature.detach().exp())
    model.temperature.fill_(temperature)
    return temperature


def _log1p_statistics(x_train: torch.Tensor, numeric_index: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of log1p(numeric features) on the training rows, as the model's tokenizer applies it."""
    logged = torch.log1p(x_train[:, numeric_index].clamp_min(0.0))
    return logged.mean(0), logged.std(0)


def _fit(
    model: TabTransformer,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: np.ndarray,
    config: TrainConfig,
    on_epoch: Callable[[EpochMetrics], None] | None,
) -> list[EpochMetrics]:
    """The epoch loop with early stopping; leaves ``model`` holding the best epoch's weights."""
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    loss_fn = nn.BCEWithLogitsLoss()
    y_val_tensor = torch.from_numpy(y_val)
    history: list[EpochMetrics] = []
    best_auc, best_state, epochs_without_gain = -1.0, None, 0
    for epoch in range(1, config.max_epochs + 1):
        started = time.perf_counter()
        model.train()
        total_loss = 0.0
        for batch in torch.randperm(len(x_train)).split(config.batch_size):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model.logits(x_train[batch]).reshape(-1), y_train[batch])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
            optimizer.step()
            total_loss += loss.item() * len(batch)

        model.eval()
        val_logits = predict_in_chunks(model.logits, x_val).reshape(-1)
        val_loss = loss_fn(val_logits, y_val_tensor).item()
        val_auc = float(roc_auc_score(y_val, val_logits.numpy()))
        is_best = val_auc > best_auc + config.min_improvement
        if is_best:
            best_auc, best_state, epochs_without_gain = val_auc, copy.deepcopy(model.state_dict()), 0
        else:
            epochs_without_gain += 1
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=total_loss / len(x_train),
            val_loss=val_loss,
            val_auc=val_auc,
            seconds=time.perf_counter() - started,
            is_best=is_best,
        )
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(metrics)
        if epochs_without_gain >= config.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return history
