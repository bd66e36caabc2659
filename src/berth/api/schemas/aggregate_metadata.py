"""Request schema for an aggregate's name and metadata (``/berth/v1/aggregates/{uuid}/metadata``).

Limits are Nova's: names, keys and values up to 255 characters, keys from Nova's
character set, an ``availability_zone`` that is not empty and has no ``:`` (Nova's boot
requests spell ``zone:host``). Keys and names may not start or end with whitespace, which
MySQL's collation would ignore when comparing them.
"""

from __future__ import annotations

from typing import Any

from berth.api.schemas.server_groups import NAME, STORABLE

MAX_LENGTH = 255
# Enough for every filter's keys; it bounds the size of one write.
MAX_KEYS = 256
KEY_PATTERN = r"^[a-zA-Z0-9_:.\-](?:[a-zA-Z0-9_:. \-]*[a-zA-Z0-9_:.\-])?$"

_VALUE: dict[str, Any] = {"type": "string", "maxLength": MAX_LENGTH, "pattern": STORABLE}

# PUT /berth/v1/aggregates/{uuid}/metadata
SET: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": NAME,
        "metadata": {
            "type": "object",
            "propertyNames": {"maxLength": MAX_LENGTH, "pattern": KEY_PATTERN},
            "properties": {
                "availability_zone": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_LENGTH,
                    "pattern": r"^[^:\x00\ud800-\udfff]*$",
                },
            },
            "additionalProperties": _VALUE,
            "maxProperties": MAX_KEYS,
        },
    },
    "required": ["name", "metadata"],
    "additionalProperties": False,
}
