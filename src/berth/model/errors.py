"""Domain errors, raised below the API and mapped to HTTP statuses in one place (api.app).

They carry Placement's error codes because those codes are what clients act on, whatever
layer found the problem.
"""

from __future__ import annotations

# Placement's error codes (microversion 1.23); the single list of them.
UNDEFINED = "placement.undefined_code"
INVENTORY_INUSE = "placement.inventory.inuse"
CONCURRENT_UPDATE = "placement.concurrent_update"
DUPLICATE_NAME = "placement.duplicate_name"
PROVIDER_IN_USE = "placement.resource_provider.inuse"
PROVIDER_CANNOT_DELETE_PARENT = "placement.resource_provider.cannot_delete_parent"
PROVIDER_NOT_FOUND = "placement.resource_provider.not_found"
QUERY_DUPLICATE_KEY = "placement.query.duplicate_key"
QUERY_BAD_VALUE = "placement.query.bad_value"
QUERY_MISSING_VALUE = "placement.query.missing_value"


class DomainError(Exception):
    """Base: a message for the operator and the Placement error code for the client."""

    default_code = UNDEFINED

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class NotFoundError(DomainError):
    """The named thing does not exist (404)."""


class ConflictError(DomainError):
    """The request collides with the current state (409): in use, duplicate, stale generation."""


class ConcurrentUpdate(ConflictError):
    """A generation compare-and-swap lost: the client should re-read and retry (409)."""

    default_code = CONCURRENT_UPDATE


class RetryableConflict(ConcurrentUpdate):
    """A race the client did not take part in: a provider generation it never sent moved,
    or the database resolved a deadlock. The server may retry the whole transaction; if it
    gives up, the client sees an ordinary 409 concurrent_update."""


class InvalidError(DomainError):
    """The request is well-formed but not acceptable (400), e.g. capacity exceeded."""
