"""The local generator in the MLflow registry: runs, versions with ``@challenger``/``@champion`` aliases.

Runs, aliases, promotion, rollback and reference parsing are :class:`loyaltylens.propensity.registry.
ModelRegistry`'s, which is generic over the model name. Its ``register`` and ``download`` check for the
propensity model's files, so creating and fetching a generator version goes through the same client here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import NotFoundError
from loyaltylens.generation.local_model import META_FILE, TrainingReport
from loyaltylens.propensity.registry import CHALLENGER, MODEL_ARTIFACT_PATH, ModelRegistry

REGISTRY_URI_PREFIX = "models:/"


def generator_registry(settings: Settings | None = None) -> ModelRegistry:
    settings = settings or get_settings()
    artifact_root = settings.artifact_root if settings.mlflow_tracking_uri is None else None
    return ModelRegistry(settings.tracking_uri, settings.generator_model_name, artifact_root)


def register_generator(
    registry: ModelRegistry,
    model_dir: Path,
    report: TrainingReport,
    params: Mapping[str, object],
    lineage: Mapping[str, str],
) -> tuple[str, int]:
    """Log a training run with ``model_dir`` as its model, register it as ``@challenger``; (run id, version)."""
    if not (Path(model_dir) / META_FILE).is_file():
        raise NotFoundError(f"{model_dir} is not a generator model directory (no {META_FILE})")
    metrics = {"final_loss": report.final_loss, "train_seconds": report.seconds, "n_parameters": report.n_parameters}
    run_id = registry.log_training_run(
        params=params, epoch_metrics=[], metrics=metrics, model_dir=Path(model_dir), lineage=lineage
    )
    client = registry.client
    if not client.search_registered_models(f"name='{registry.model_name}'"):
        client.create_registered_model(registry.model_name)
    source = f"{client.get_run(run_id).info.artifact_uri}/{MODEL_ARTIFACT_PATH}"
    tags = {f"metric.{key}": repr(float(value)) for key, value in metrics.items()}
    version = int(client.create_model_version(registry.model_name, source, run_id=run_id, tags=tags).version)
    client.set_registered_model_alias(registry.model_name, CHALLENGER, str(version))
    return run_id, version


def resolve_generator_dir(model_ref: str | Path, settings: Settings | None = None) -> Path:
    """A local generator model directory for a path or a ``models:/<name>@<alias>`` URI.

    Registry versions are downloaded once into ``models_dir/<name>-v<version>`` (staged, then renamed).
    """
    settings = settings or get_settings()
    if not str(model_ref).startswith(REGISTRY_URI_PREFIX):
        model_dir = Path(model_ref)
        if not (model_dir / META_FILE).is_file():
            raise NotFoundError(f"{model_dir} is not a generator model directory (no {META_FILE})")
        return model_dir
    import mlflow

    registry = generator_registry(settings)
    version = registry.resolve(str(model_ref))
    target = settings.models_dir / f"{registry.model_name}-v{version}"
    if (target / META_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    source = registry.client.get_model_version_download_uri(registry.model_name, str(version))
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as staging:
        local = Path(mlflow.artifacts.download_artifacts(source, dst_path=staging, tracking_uri=registry.tracking_uri))
        if not (local / META_FILE).is_file():
            raise NotFoundError(f"version {version} of '{registry.model_name}' has no {META_FILE}")
        try:
            local.rename(target)
        except OSError:  # another process put the same version in place first; theirs is identical
            if not (target / META_FILE).is_file():
                raise
    return target
