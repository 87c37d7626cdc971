"""The MLflow model registry of propensity models: :class:`loyaltylens.registry.models.ModelRegistry` bound to
the propensity model's directory layout.

A version is created from the run's ``model/`` artifact directory, so
``mlflow.artifacts.download_artifacts("models:/<name>@champion")`` yields exactly the directory
:func:`loyaltylens.propensity.export.export_model` wrote (plus the model card, stamped with the version
number, and metrics). Registration refuses a directory servers cannot load.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from loyaltylens.config import Settings, get_settings
from loyaltylens.propensity.export import MODEL_FILENAME, load_model_dir
from loyaltylens.propensity.model_card import CARD_JSON, ModelCard
from loyaltylens.registry import models as generic
from loyaltylens.registry.models import (  # noqa: F401 (the propensity registry's public names)
    CHALLENGER,
    CHAMPION,
    GATE_TAG,
    HISTORY_TAG,
    LINEAGE_TAG_PREFIX,
    METRIC_TAG_PREFIX,
    MODEL_ARTIFACT_PATH,
    MODELS_URI_PREFIX,
    RUN_KIND_TAG,
    ModelRef,
    ModelVersionInfo,
    parse_model_ref,
    validate_alias,
)


class ModelRegistry(generic.ModelRegistry):
    """Propensity model versions: each holds ``model.pt``, ``feature_contract.json``, the card and metrics."""

    required_file = MODEL_FILENAME

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ModelRegistry:
        """The project's registry: ``settings.tracking_uri`` (SQLite under the data dir unless configured)."""
        settings = settings or get_settings()
        return cls(settings.tracking_uri, settings.propensity_model_name, settings.registry_artifact_root)

    def check_model_dir(self, model_dir: Path) -> None:
        load_model_dir(Path(model_dir))  # loads it: a directory servers cannot load is refused

    def _stamp_version(self, staged: Path, version: int) -> None:
        if (staged / CARD_JSON).is_file():
            ModelCard.load(staged).with_version(version).save(staged)

    def model_card(self, ref: str | int) -> ModelCard:
        """The model card of the version ``ref`` points at."""
        with tempfile.TemporaryDirectory() as tmp:
            return ModelCard.load(self.download(ref, Path(tmp)))
