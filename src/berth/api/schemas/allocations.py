"""Request schemas for allocations, one per microversion step of the format.

1.0   PUT body is a list of {resource_provider: {uuid}, resources}
1.8   project_id and user_id become required
1.12  allocations become a dict keyed by provider uuid (a GET body can be PUT back)
1.13  POST /allocations: many consumers in one request (an empty dict releases one)
1.28  consumer_generation required (null = new consumer); PUT may send {} to release all
1.34  mappings (request group -> providers) accepted alongside allocations
1.38  consumer_type required
"""

from __future__ import annotations

import copy
from typing import Any

from berth.api.microversion import Version
from berth.model.inventory import MAX_INT
from berth.model.names import MAX_NAME_LENGTH

UUID_PATTERN = "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
RESOURCE_CLASS_PATTERN = "^[A-Z0-9_]+$"
CONSUMER_TYPE_PATTERN = "^[A-Z0-9_]+$"

_UUID: dict[str, Any] = {"type": "string", "pattern": UUID_PATTERN}
_OWNER_ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255}

RESOURCES: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {
        RESOURCE_CLASS_PATTERN: {"type": "integer", "minimum": 1, "maximum": MAX_INT}
    },
    "additionalProperties": False,
}

_LIST_ALLOCATIONS: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "resource_provider": {
                "type": "object",
                "properties": {"uuid": _UUID},
                "required": ["uuid"],
                "additionalProperties": False,
            },
            "resources": RESOURCES,
        },
        "required": ["resource_provider", "resources"],
        "additionalProperties": False,
    },
}

# "generation" is what GET shows per provider; it is accepted and ignored so a GET body
# can be sent straight back.
_DICT_ALLOCATIONS: dict[str, Any] = {
    "type": "object",
    "patternProperties": {
        UUID_PATTERN: {
            "type": "object",
            "properties": {"generation": {"type": "integer"}, "resources": RESOURCES},
            "required": ["resources"],
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}

MAPPINGS: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {"type": "array", "minItems": 1, "items": _UUID},
}

CONSUMER_TYPE: dict[str, Any] = {
    "type": "string",
    "pattern": CONSUMER_TYPE_PATTERN,
    "maxLength": MAX_NAME_LENGTH,
}


def _consumer(version: Version, *, allow_empty: bool) -> dict[str, Any]:
    """One consumer's new allocation set in the dict format (1.12+)."""
    allocations = copy.deepcopy(_DICT_ALLOCATIONS)
    if not allow_empty:
        allocations["minProperties"] = 1
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "allocations": allocations,
            "project_id": _OWNER_ID,
            "user_id": _OWNER_ID,
        },
        "required": ["allocations", "project_id", "user_id"],
        "additionalProperties": False,
    }
    if version >= (1, 28):
        schema["properties"]["consumer_generation"] = {"type": ["integer", "null"]}
        schema["required"].append("consumer_generation")
    if version >= (1, 34):
        schema["properties"]["mappings"] = MAPPINGS
    if version >= (1, 38):
        schema["properties"]["consumer_type"] = CONSUMER_TYPE
        schema["required"].append("consumer_type")
    return schema


def _build_put(version: Version) -> dict[str, Any]:
    if version >= (1, 12):
        return _consumer(version, allow_empty=version >= (1, 28))
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"allocations": _LIST_ALLOCATIONS},
        "required": ["allocations"],
        "additionalProperties": False,
    }
    if version >= (1, 8):
        schema["properties"]["project_id"] = _OWNER_ID
        schema["properties"]["user_id"] = _OWNER_ID
        schema["required"] += ["project_id", "user_id"]
    return schema


def _build_post(version: Version) -> dict[str, Any]:
    return {
        "type": "object",
        "minProperties": 1,
        "patternProperties": {UUID_PATTERN: _consumer(version, allow_empty=True)},
        "additionalProperties": False,
    }


# The format changes at these versions only; schemas are built once per step (and so are
# compiled once by the validator's cache).
_STEPS = ((1, 0), (1, 8), (1, 12), (1, 13), (1, 28), (1, 34), (1, 38))
_PUT: dict[tuple[int, int], dict[str, Any]] = {}
_POST: dict[tuple[int, int], dict[str, Any]] = {}


def _step(version: Version) -> tuple[int, int]:
    return max(s for s in _STEPS if version >= s)


def put_schema(version: Version) -> dict[str, Any]:
    """PUT /allocations/{consumer_uuid} at ``version``."""
    step = _step(version)
    if step not in _PUT:
        _PUT[step] = _build_put(Version(*step))
    return _PUT[step]


def post_schema(version: Version) -> dict[str, Any]:
    """POST /allocations (1.13+) at ``version``: consumer uuid -> its new set."""
    step = _step(version)
    if step not in _POST:
        _POST[step] = _build_post(Version(*step))
    return _POST[step]


def consumer_schema(version: Version) -> dict[str, Any]:
    """One consumer's entry as POST /allocations and POST /reshaper take it."""
    return _consumer(version, allow_empty=True)
