"""Request schemas for resource providers, one per microversion that changed them.

``parent_provider_uuid`` only exists from 1.14 (nested providers); before that it is an
unknown property and refused like any other.
"""

from __future__ import annotations

from typing import Any

MAX_NAME_LENGTH = 200

_NAME: dict[str, Any] = {"type": "string", "maxLength": MAX_NAME_LENGTH}
_UUID: dict[str, Any] = {"type": "string", "format": "uuid"}
_PARENT: dict[str, Any] = {"anyOf": [_UUID, {"type": "null"}]}

# POST /resource_providers
CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {"name": _NAME, "uuid": _UUID},
    "required": ["name"],
    "additionalProperties": False,
}
CREATE_1_14: dict[str, Any] = {
    **CREATE,
    "properties": {**CREATE["properties"], "parent_provider_uuid": _PARENT},
}

# PUT /resource_providers/{uuid}
UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {"name": _NAME},
    "required": ["name"],
    "additionalProperties": False,
}
UPDATE_1_14: dict[str, Any] = {
    **UPDATE,
    "properties": {**UPDATE["properties"], "parent_provider_uuid": _PARENT},
}


def create_schema(version: tuple[int, int]) -> dict[str, Any]:
    return CREATE_1_14 if version >= (1, 14) else CREATE


def update_schema(version: tuple[int, int]) -> dict[str, Any]:
    return UPDATE_1_14 if version >= (1, 14) else UPDATE


# GET /resource_providers: the query parameters each microversion understands.
_LIST_KEYS: tuple[tuple[tuple[int, int], str], ...] = (
    ((1, 0), "name"),
    ((1, 0), "uuid"),
    ((1, 3), "member_of"),
    ((1, 4), "resources"),
    ((1, 14), "in_tree"),
    ((1, 18), "required"),
)


def list_query_keys(version: tuple[int, int]) -> frozenset[str]:
    """The query parameter names GET /resource_providers accepts at ``version``."""
    return frozenset(key for since, key in _LIST_KEYS if version >= since)
