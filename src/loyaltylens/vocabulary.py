"""The leaf of the package graph: the loyalty domain's closed vocabularies and the one feature-field type.

Data generation, the feature store, the propensity model's contract and every server import this module;
it imports nothing from ``loyaltylens`` but ``errors``, so no stage package needs another to know what a
channel code or a valid feature value is.

Order matters: a category's index is its integer code everywhere (feature store, model input, servers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from loyaltylens.errors import InvalidInputError

SEGMENTS: tuple[str, ...] = ("budget", "premium", "family", "horeca")
SEGMENT_SHARES: tuple[float, ...] = (0.40, 0.20, 0.30, 0.10)

# in-store 0 / mobile 1 / web 2 is the documented contract of the propensity model's channel input.
CHANNELS: tuple[str, ...] = ("in_store", "mobile", "web")

PRODUCT_CATEGORIES: tuple[str, ...] = (
    "produce",
    "dairy",
    "bakery",
    "meat_fish",
    "beverages",
    "snacks",
    "household",
    "personal_care",
    "baby",
    "frozen",
)

NUMERIC = "numeric"
CATEGORICAL = "categorical"


@dataclass(frozen=True)
class FeatureField:
    """One model input column. Categorical fields are stored as integer codes into ``categories``.

    The feature store's definitions and every model's ``feature_contract.json`` are tuples of these.
    """

    name: str
    kind: str  # NUMERIC | CATEGORICAL
    description: str = ""
    min_value: float | None = None
    max_value: float | None = None
    categories: tuple[str, ...] | None = None

    @property
    def is_categorical(self) -> bool:
        return self.kind == CATEGORICAL


def validate_matrix(
    fields: Sequence[FeatureField], x: object, input_name: str = "features", max_batch_size: int | None = None
) -> np.ndarray:
    """``x`` as a C-contiguous float32 ``[N, len(fields)]`` array, or ``InvalidInputError`` naming the problem.

    Checks shape, batch size, finiteness, numeric ranges and category codes, column by column in ``fields``
    order; the message names the input, feature and row.
    """
    names = [f.name for f in fields]
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{input_name}: values must be numbers ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != len(fields):
        raise InvalidInputError(
            f"{input_name}: expected shape [N, {len(fields)}] in order {names}, got {list(arr.shape)}"
        )
    if arr.shape[0] == 0:
        raise InvalidInputError(f"{input_name}: empty batch")
    if max_batch_size is not None and arr.shape[0] > max_batch_size:
        raise InvalidInputError(f"{input_name}: batch of {arr.shape[0]} rows exceeds the limit of {max_batch_size}")
    finite = np.isfinite(arr)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise InvalidInputError(f"{input_name}: feature '{names[col]}' is not finite (NaN/inf) in row {row}")
    for col, spec in enumerate(fields):
        column = arr[:, col]
        if spec.is_categorical:
            n = len(spec.categories or ())
            bad = (column < 0) | (column >= n) | (column != np.floor(column))
            if bad.any():
                row = int(np.argmax(bad))
                raise InvalidInputError(
                    f"{input_name}: unknown category code {column[row]:g} for '{spec.name}' in row "
                    f"{row}; valid codes are 0..{n - 1} ({', '.join(spec.categories or ())})"
                )
            continue
        low = spec.min_value if spec.min_value is not None else -math.inf
        high = spec.max_value if spec.max_value is not None else math.inf
        bad = (column < low) | (column > high)
        if bad.any():
            row = int(np.argmax(bad))
            raise InvalidInputError(
                f"{input_name}: feature '{spec.name}' = {column[row]:g} in row {row} is outside [{low:g}, {high:g}]"
            )
    return np.ascontiguousarray(arr)
