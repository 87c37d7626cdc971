"""One way to open an MLflow tracking/registry store and to tell "does not exist" from "cannot be reached"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from loyaltylens.errors import ServiceUnavailableError

SQLITE_PREFIX = "sqlite:///"
# The MLflow error codes that mean "no such entity"; anything else (connection refused, 5xx, a broken
# database) is the store failing, which must never read as an empty registry.
MISSING_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})

T = TypeVar("T")


def registry_client(tracking_uri: str) -> MlflowClient:
    """A client for ``tracking_uri`` as both tracking and registry store (SQLite: its directory is created)."""
    if tracking_uri.startswith(SQLITE_PREFIX):  # SQLite creates the file, not its directory
        Path(tracking_uri.removeprefix(SQLITE_PREFIX)).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def is_missing(exc: MlflowException) -> bool:
    """True when ``exc`` says the entity does not exist (as opposed to the store failing)."""
    return exc.error_code in MISSING_CODES


def unavailable(tracking_uri: str, exc: Exception) -> ServiceUnavailableError:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ServiceUnavailableError(f"MLflow tracking store {tracking_uri} is unavailable: {first_line[:300]}")


def missing_or_raise(tracking_uri: str, call: Callable[[], T]) -> T | None:
    """``call()``; ``None`` when MLflow says the entity does not exist; ``ServiceUnavailableError`` otherwise.

    Raises:
        ServiceUnavailableError: the store failed or could not be reached.
    """
    try:
        return call()
    except MlflowException as exc:
        if is_missing(exc):
            return None
        raise unavailable(tracking_uri, exc) from exc
    except OSError as exc:  # requests' ConnectionError is an OSError
        raise unavailable(tracking_uri, exc) from exc
