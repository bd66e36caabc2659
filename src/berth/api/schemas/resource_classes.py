"""Request schemas for resource classes: only CUSTOM_* names may be written."""

from __future__ import annotations

from typing import Any

from berth.model.names import MAX_NAME_LENGTH

CUSTOM_NAME: dict[str, Any] = {
    "type": "string",
    "pattern": "^CUSTOM_[A-Z0-9_]+$",
    "maxLength": MAX_NAME_LENGTH,
}

# POST /resource_classes and PUT /resource_classes/{name} (rename, 1.2-1.6).
NAME_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {"name": CUSTOM_NAME},
    "required": ["name"],
    "additionalProperties": False,
}

# PUT /resource_classes/{name} at 1.7+: the path names the class; checked as a body would be.
PATH_NAME: dict[str, Any] = NAME_BODY
