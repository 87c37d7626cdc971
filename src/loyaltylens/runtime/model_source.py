"""Where a server's model comes from: a local model directory or an MLflow registry URI.

``models:/<name>@<alias>`` (or ``models:/<name>/<version>``) is downloaded with MLflow; anything else is a
path to a directory written by :func:`loyaltylens.propensity.export.export_model`.
"""

from __future__ import annotations

from pathlib import Path

from loyaltylens.config import Settings
from loyaltylens.errors import NotFoundError

# The registry module's own spelling of these imports MLflow, which serving only needs for registry URIs.
REGISTRY_URI_PREFIX = "models:/"
CHAMPION_ALIAS = "champion"


def champion_uri(settings: Settings) -> str:
    """The registry URI of the model every server loads by default: ``models:/<name>@champion``."""
    return f"{REGISTRY_URI_PREFIX}{settings.propensity_model_name}@{CHAMPION_ALIAS}"


def is_registry_uri(model_ref: str | Path) -> bool:
    return str(model_ref).startswith(REGISTRY_URI_PREFIX)


def resolve_model_dir(model_ref: str | Path, tracking_uri: str, download_root: Path) -> Path:
    """A local propensity model directory for ``model_ref``, downloading registry URIs from ``tracking_uri``
    once into ``download_root/<name>-v<version>`` (see :func:`loyaltylens.registry.models.fetch_model_dir`).

    Raises:
        NotFoundError: the directory does not exist, or the registry has no such model / alias / version.
        InvalidInputError: a malformed registry URI.
        ServiceUnavailableError: the tracking store cannot be reached.
    """
    if not is_registry_uri(model_ref):
        model_dir = Path(model_ref)
        if not model_dir.is_dir():
            raise NotFoundError(f"model directory {model_dir} does not exist")
        return model_dir

    # Heavy (MLflow); only needed for registry URIs. The registry resolves the alias through an explicit
    # client: mlflow.artifacts.download_artifacts would look a models:/ URI up in the process-global
    # registry URI, ignoring the one it is given.
    from loyaltylens.propensity.registry import ModelRegistry
    from loyaltylens.registry.models import fetch_model_dir

    registry = ModelRegistry(tracking_uri, _registered_model_name(str(model_ref)))
    return fetch_model_dir(registry, str(model_ref), download_root)


def _registered_model_name(uri: str) -> str:
    """``models:/<name>@<alias>`` or ``models:/<name>/<version>`` -> ``<name>``."""
    body = uri[len(REGISTRY_URI_PREFIX) :]
    return body.partition("@")[0] if "@" in body else body.rpartition("/")[0]
