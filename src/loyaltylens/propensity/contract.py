"""The feature-schema contract stored beside every exported propensity model.

It fixes the order, kind and valid range of each input column and the category codes
(e.g. channel_preference: in_store 0 / mobile 1 / web 2), so every server (KServe, TorchServe, the
FastAPI baseline) validates inputs the same way and turns named records into the model's matrix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from loyaltylens.errors import InvalidInputError
from loyaltylens.features.definitions import FEATURES, OFFER_COLUMN, PAIR_FEATURES
from loyaltylens.vocabulary import FeatureField, validate_matrix

CONTRACT_FILENAME = "feature_contract.json"


@dataclass(frozen=True)
class FeatureContract:
    """Input schema of one model: a matrix ``[N, F]`` of float32 in ``fields`` order, categoricals as codes."""

    fields: tuple[FeatureField, ...]
    input_name: str = "features"
    output_name: str = "propensity"
    feature_version: str | None = None

    # --- construction / persistence -------------------------------------------------------------
    @classmethod
    def from_definitions(cls, feature_version: str | None = None) -> FeatureContract:
        return cls(fields=FEATURES, feature_version=feature_version)

    @classmethod
    def for_pairs(cls, feature_version: str | None = None) -> FeatureContract:
        """The offer-aware contract: a row per (customer, offer) pair, customer features then offer ones."""
        return cls(fields=PAIR_FEATURES, feature_version=feature_version)

    @classmethod
    def for_frame(cls, columns: Sequence[str], feature_version: str | None = None) -> FeatureContract:
        """The contract a training frame with ``columns`` trains: pairs when its rows name an offer (the
        feature store's ``pair_training`` frame), the customer features otherwise."""
        if OFFER_COLUMN in columns:
            return cls.for_pairs(feature_version)
        return cls.from_definitions(feature_version)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> FeatureContract:
        fields = tuple(
            FeatureField(
                name=f["name"],
                kind=f["kind"],
                description=f.get("description", ""),
                min_value=f.get("min_value"),
                max_value=f.get("max_value"),
                categories=tuple(f["categories"]) if f.get("categories") is not None else None,
            )
            for f in data["fields"]
        )
        return cls(
            fields=fields,
            input_name=data.get("input_name", "features"),
            output_name=data.get("output_name", "propensity"),
            feature_version=data.get("feature_version"),
        )

    def save(self, path: Path) -> Path:
        path = Path(path)
        if path.is_dir():
            path = path / CONTRACT_FILENAME
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: Path) -> FeatureContract:
        path = Path(path)
        if path.is_dir():
            path = path / CONTRACT_FILENAME
        return cls.from_dict(json.loads(path.read_text()))

    # --- views -------------------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def n_features(self) -> int:
        return len(self.fields)

    @property
    def numeric_index(self) -> list[int]:
        return [i for i, f in enumerate(self.fields) if not f.is_categorical]

    @property
    def categorical_index(self) -> list[int]:
        return [i for i, f in enumerate(self.fields) if f.is_categorical]

    @property
    def cardinalities(self) -> list[int]:
        return [len(f.categories or ()) for f in self.fields if f.is_categorical]

    # --- validation --------------------------------------------------------------------------------
    def validate_matrix(self, x: object, max_batch_size: int | None = None) -> np.ndarray:
        """Return ``x`` as a C-contiguous float32 ``[N, F]`` array or raise ``InvalidInputError`` naming the problem."""
        return validate_matrix(self.fields, x, self.input_name, max_batch_size)

    def encode_records(self, records: Sequence[Mapping], max_batch_size: int | None = None) -> np.ndarray:
        """Turn named feature records (categoricals as labels or codes) into a validated matrix."""
        if isinstance(records, Mapping) or not isinstance(records, Sequence) or isinstance(records, str):
            raise InvalidInputError("instances must be a list of feature records")
        if max_batch_size is not None and len(records) > max_batch_size:
            raise InvalidInputError(
                f"batch of {len(records)} instances exceeds the limit of {max_batch_size}"
            )
        expected = set(self.names)
        matrix = np.empty((len(records), self.n_features), dtype=np.float32)
        for row, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise InvalidInputError(f"instance {row} must be an object of feature values")
            missing = [n for n in self.names if n not in record]
            if missing:
                raise InvalidInputError(f"instance {row}: missing feature(s) {missing}")
            unexpected = sorted(set(record) - expected)
            if unexpected:
                raise InvalidInputError(f"instance {row}: unexpected feature(s) {unexpected}")
            for col, spec in enumerate(self.fields):
                matrix[row, col] = self._encode_value(spec, record[spec.name], row)
        return self.validate_matrix(matrix, max_batch_size)

    def _encode_value(self, spec: FeatureField, value: object, row: int) -> float:
        if spec.is_categorical and isinstance(value, str):
            categories = spec.categories or ()
            if value not in categories:
                raise InvalidInputError(
                    f"instance {row}: unknown category '{value}' for '{spec.name}'; "
                    f"expected one of {list(categories)}"
                )
            return float(categories.index(value))
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(
                f"instance {row}: feature '{spec.name}' must be a number"
                + (" or a category label" if spec.is_categorical else "")
                + f", got {type(value).__name__}"
            )
        return float(value)
