"""Request schemas for a provider's aggregates.

Until 1.19 the body is a bare list of uuids; from 1.19 it is an object that also carries
the provider generation, so concurrent membership changes can be detected.
"""

from __future__ import annotations

from typing import Any

_AGGREGATES: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "format": "uuid"},
    "uniqueItems": True,
}

# PUT /resource_providers/{uuid}/aggregates, 1.1 - 1.18
SET_1_1: dict[str, Any] = _AGGREGATES

# PUT /resource_providers/{uuid}/aggregates, 1.19+
SET_1_19: dict[str, Any] = {
    "type": "object",
    "properties": {
        "aggregates": _AGGREGATES,
        "resource_provider_generation": {"type": "integer"},
    },
    "required": ["aggregates", "resource_provider_generation"],
    "additionalProperties": False,
}


def set_schema(version: tuple[int, int]) -> dict[str, Any]:
    return SET_1_19 if version >= (1, 19) else SET_1_1
