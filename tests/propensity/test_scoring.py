"""TorchScript export parity and the batch scorer: same numbers as eager, validated input, fast enough."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from loyaltylens.errors import InvalidInputError
from loyaltylens.features.definitions import FEATURE_NAMES
from loyaltylens.propensity.export import PARITY_TOLERANCE, export_model, load_model_dir
from loyaltylens.propensity.frame import feature_matrix
from loyaltylens.propensity.scoring import score_frame
from loyaltylens.propensity.train import TrainResult


@pytest.fixture(scope="module")
def model_dir(trained: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model(trained.model, trained.contract, tmp_path_factory.mktemp("exported"))


@pytest.fixture(scope="module")
def rows_1k(trained: TrainResult) -> np.ndarray:
    rows = feature_matrix(trained.split.test)[:1000]
    assert len(rows) == 1000
    return rows


def test_torchscript_matches_eager_on_1k_rows(
    trained: TrainResult, model_dir: Path, rows_1k: np.ndarray
) -> None:
    scripted, _ = load_model_dir(model_dir)
    x = torch.from_numpy(rows_1k)
    with torch.no_grad():
        difference = (scripted(x) - trained.model(x)).abs().max().item()
    assert difference <= PARITY_TOLERANCE


def test_scoring_a_model_dir_equals_scoring_the_eager_model(
    trained: TrainResult, model_dir: Path, rows_1k: np.ndarray
) -> None:
    from_dir = score_frame(model_dir, rows_1k, chunk_size=300)  # several chunks, one partial
    eager = score_frame(trained.model, rows_1k)

    assert from_dir.shape == (1000,) and from_dir.dtype == np.float32
    np.testing.assert_allclose(from_dir, eager, atol=PARITY_TOLERANCE)
    assert ((from_dir > 0) & (from_dir < 1)).all()


def test_scoring_validates_input_against_the_contract(model_dir: Path, rows_1k: np.ndarray) -> None:
    bad = rows_1k.copy()
    bad[5, FEATURE_NAMES.index("segment")] = 7  # segment code out of range
    with pytest.raises(InvalidInputError, match="unknown category code 7 for 'segment' in row 5"):
        score_frame(model_dir, bad)
    with pytest.raises(InvalidInputError, match=rf"expected shape \[N, {len(FEATURE_NAMES)}\]"):
        score_frame(model_dir, rows_1k[:, :5])


def test_scoring_a_loaded_model_rejects_a_non_matrix(trained: TrainResult) -> None:
    with pytest.raises(InvalidInputError, match="non-empty"):
        score_frame(trained.model, np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32))


def test_chunked_scoring_matches_one_pass(model_dir: Path, rows_1k: np.ndarray) -> None:
    """Chunked, multi-threaded scoring equals one forward pass (its speed is in benchmarks/training.py)."""
    scripted, _ = load_model_dir(model_dir)
    matrix = np.tile(rows_1k, (5, 1))
    with torch.no_grad():
        one_pass = scripted(torch.from_numpy(matrix)).numpy()[:, 0]
    np.testing.assert_allclose(score_frame(scripted, matrix, chunk_size=777), one_pass, rtol=0, atol=1e-6)
