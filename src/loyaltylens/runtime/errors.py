"""The one mapping of the library's domain errors to KServe's, for every KServe model of the project.

``InvalidInputError`` becomes KServe's ``InvalidInput`` (HTTP 400 / gRPC INVALID_ARGUMENT) and
``NotFoundError`` becomes :class:`ResourceNotFound` (HTTP 404 / gRPC NOT_FOUND), each with the library's
message, which names the field, id or version at fault.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kserve.errors import InvalidInput, ModelNotFound

from loyaltylens.errors import InvalidInputError, NotFoundError


class ResourceNotFound(ModelNotFound):
    """Something a request names (customers, a feature version) does not exist. Subclassing ``ModelNotFound``
    makes KServe answer HTTP 404 / gRPC NOT_FOUND; ``reason`` is the library's message."""

    def __init__(self, reason: str):
        self.reason = reason


@contextmanager
def kserve_errors() -> Iterator[None]:
    """Raise the KServe error of any domain error raised inside the block."""
    try:
        yield
    except NotFoundError as exc:
        raise ResourceNotFound(str(exc)) from None
    except InvalidInputError as exc:
        raise InvalidInput(str(exc)) from None
