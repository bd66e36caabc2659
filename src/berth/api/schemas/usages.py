"""Query schemas for GET /usages: a project is required, a user optional; 1.38 adds types."""

from __future__ import annotations

import copy
from typing import Any

_ID = {"type": "string", "minLength": 1, "maxLength": 255}

QUERY: dict[str, Any] = {
    "type": "object",
    "properties": {"project_id": _ID, "user_id": _ID},
    "required": ["project_id"],
    "additionalProperties": False,
}

# 1.38: consumer_type is free text here ("all" and "unknown" are lower case on purpose).
QUERY_1_38: dict[str, Any] = copy.deepcopy(QUERY)
QUERY_1_38["properties"]["consumer_type"] = {"type": "string", "minLength": 1, "maxLength": 255}
