"""Request schemas for traits: a provider's whole trait set plus its generation."""

from __future__ import annotations

from typing import Any

from berth.model.names import MAX_NAME_LENGTH

# PUT /resource_providers/{uuid}/traits
PROVIDER_TRAITS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "traits": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
        },
        "resource_provider_generation": {"type": "integer"},
    },
    "required": ["traits", "resource_provider_generation"],
    "additionalProperties": False,
}

# GET /traits query: the filters are parsed by the handler; anything else is refused.
LIST_QUERY: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "associated": {"type": "string"}},
    "additionalProperties": False,
}
