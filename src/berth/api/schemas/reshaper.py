"""Request schema for POST /reshaper (1.30): new inventories plus the moved allocations.

The allocations part is POST /allocations' consumer entry at the same microversion
(consumer generations always, mappings from 1.34, consumer_type from 1.38), except that
an empty set of consumers is fine: a reshape may only move inventory.
"""

from __future__ import annotations

from typing import Any

from berth.api.microversion import Version
from berth.api.schemas import allocations, inventories

_PROVIDER_INVENTORIES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "resource_provider_generation": {"type": "integer"},
        "inventories": {
            "type": "object",
            "patternProperties": {inventories.RESOURCE_CLASS_PATTERN: inventories.RECORD},
            "additionalProperties": False,
        },
    },
    "required": ["resource_provider_generation", "inventories"],
    "additionalProperties": False,
}

_CACHE: dict[tuple[int, int], dict[str, Any]] = {}


def _build(version: Version) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "inventories": {
                "type": "object",
                "patternProperties": {allocations.UUID_PATTERN: _PROVIDER_INVENTORIES},
                "additionalProperties": False,
            },
            "allocations": {
                "type": "object",
                "patternProperties": {
                    allocations.UUID_PATTERN: allocations.consumer_schema(version)
                },
                "additionalProperties": False,
            },
        },
        "required": ["inventories", "allocations"],
        "additionalProperties": False,
    }


def schema(version: Version) -> dict[str, Any]:
    """POST /reshaper at ``version`` (built once per format step)."""
    step = (1, 38) if version >= (1, 38) else (1, 34) if version >= (1, 34) else (1, 30)
    if step not in _CACHE:
        _CACHE[step] = _build(Version(*step))
    return _CACHE[step]
