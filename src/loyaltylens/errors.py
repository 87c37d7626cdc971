"""Domain errors, raised by the library and mapped to user-facing errors once at each boundary.

The CLI turns any ``LoyaltyLensError`` into one readable line and a non-zero exit; the servers turn
``InvalidInputError`` into HTTP 400 / gRPC INVALID_ARGUMENT and ``NotFoundError`` into 404 / NOT_FOUND.
"""


class LoyaltyLensError(Exception):
    """Base class of every error the library raises on purpose."""


class InvalidInputError(LoyaltyLensError, ValueError):
    """The caller sent something malformed: wrong shape, dtype, range, category or size."""


class NotFoundError(LoyaltyLensError, LookupError):
    """A named thing (customer, feature version, model alias, dataset) does not exist."""


class UnknownCustomerError(NotFoundError):
    """Customer ids that are not in the feature version being read."""

    def __init__(self, customer_ids: list[int], version: str):
        shown = ", ".join(str(c) for c in customer_ids[:10])
        more = f" (+{len(customer_ids) - 10} more)" if len(customer_ids) > 10 else ""
        super().__init__(f"unknown customer id(s) {shown}{more} in feature version {version}")
        self.customer_ids = customer_ids
        self.version = version


class UnknownVersionError(NotFoundError):
    """A feature-store version that was never published."""


class DataValidationError(LoyaltyLensError):
    """A dataset or feature version breaks its schema or value ranges; nothing downstream may use it."""


class ServiceUnavailableError(LoyaltyLensError):
    """A backing service (Postgres, Weaviate, ...) cannot be reached within its timeout."""


class ModelVersionMismatchError(ServiceUnavailableError):
    """The predictor serves another model version than the one whose margin model decides: a rollout under way."""
