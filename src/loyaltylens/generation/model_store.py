"""The local copy generator in the MLflow registry: :class:`loyaltylens.registry.models.ModelRegistry` bound
to the generator's model directory (runs, versions, ``@challenger``/``@champion``, promotion, rollback and the
cached download are all the generic registry's)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from loyaltylens.config import Settings, get_settings
from loyaltylens.generation.local_model import META_FILE, TrainingReport
from loyaltylens.registry.models import ModelRegistry, fetch_model_dir

REGISTRY_URI_PREFIX = "models:/"


class GeneratorRegistry(ModelRegistry):
    """Generator versions: each a model directory (Hugging Face format + tokenizer + prompt) with ``META_FILE``."""

    required_file = META_FILE


def generator_registry(settings: Settings | None = None) -> GeneratorRegistry:
    settings = settings or get_settings()
    return GeneratorRegistry(settings.tracking_uri, settings.generator_model_name, settings.registry_artifact_root)


def register_generator(
    registry: ModelRegistry,
    model_dir: Path,
    report: TrainingReport,
    params: Mapping[str, object],
    lineage: Mapping[str, str],
) -> tuple[str, int]:
    """Log a training run with ``model_dir`` as its model, register it as ``@challenger``; (run id, version)."""
    registry.check_model_dir(Path(model_dir))
    metrics = {"final_loss": report.final_loss, "train_seconds": report.seconds, "n_parameters": report.n_parameters}
    run_id = registry.log_training_run(
        params=params, epoch_metrics=[], metrics=metrics, model_dir=Path(model_dir), lineage=lineage
    )
    return run_id, registry.register(Path(model_dir), run_id, metrics)


def resolve_generator_dir(model_ref: str | Path, settings: Settings | None = None) -> Path:
    """A local generator model directory for a path or a ``models:/<name>@<alias>`` URI (downloaded once
    into ``models_dir/<name>-v<version>``)."""
    settings = settings or get_settings()
    registry = generator_registry(settings)
    if not str(model_ref).startswith(REGISTRY_URI_PREFIX):
        registry.check_model_dir(Path(model_ref))
        return Path(model_ref)
    return fetch_model_dir(registry, str(model_ref), settings.models_dir)
