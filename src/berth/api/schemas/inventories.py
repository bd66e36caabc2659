"""Request schemas for inventories: one record (POST, PUT one) or a provider's whole set.

Every integer field is bounded by the 32-bit columns it lands in; ``allocation_ratio`` by
the largest single-precision float, the column type Placement deployments use.
"""

from __future__ import annotations

import copy
from typing import Any

from berth.model.inventory import MAX_INT
from berth.model.names import MAX_NAME_LENGTH

MAX_FLOAT = 3.40282e38
RESOURCE_CLASS_PATTERN = "^[A-Z0-9_]+$"

_FIELDS: dict[str, Any] = {
    "total": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    "reserved": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
    "min_unit": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    "max_unit": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    "step_size": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    "allocation_ratio": {"type": "number", "minimum": 0, "maximum": MAX_FLOAT},
}

# One inventory record inside PUT /resource_providers/{uuid}/inventories.
RECORD: dict[str, Any] = {
    "type": "object",
    "properties": copy.deepcopy(_FIELDS),
    "required": ["total"],
    "additionalProperties": False,
}

# POST /resource_providers/{uuid}/inventories: a record naming its class. A generation may
# be sent (clients do) but the write is checked against the provider's current one.
CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "resource_class": {
            "type": "string",
            "pattern": RESOURCE_CLASS_PATTERN,
            "maxLength": MAX_NAME_LENGTH,
        },
        "resource_provider_generation": {"type": "integer"},
        **copy.deepcopy(_FIELDS),
    },
    "required": ["total", "resource_class"],
    "additionalProperties": False,
}

# PUT /resource_providers/{uuid}/inventories/{resource_class}
UPDATE_ONE: dict[str, Any] = {
    "type": "object",
    "properties": {"resource_provider_generation": {"type": "integer"}, **copy.deepcopy(_FIELDS)},
    "required": ["total", "resource_provider_generation"],
    "additionalProperties": False,
}

# PUT /resource_providers/{uuid}/inventories
REPLACE_ALL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "resource_provider_generation": {"type": "integer"},
        "inventories": {
            "type": "object",
            "patternProperties": {RESOURCE_CLASS_PATTERN: RECORD},
            "additionalProperties": False,
        },
    },
    "required": ["inventories", "resource_provider_generation"],
    "additionalProperties": False,
}
