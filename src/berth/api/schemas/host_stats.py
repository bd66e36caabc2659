"""Request schema for reporting a build's outcome on a host."""

from __future__ import annotations

from typing import Any

FAILURE = "failure"
SUCCESS = "success"

# POST /berth/v1/hosts/{uuid}/build_results
BUILD_RESULT: dict[str, Any] = {
    "type": "object",
    "properties": {"result": {"type": "string", "enum": [FAILURE, SUCCESS]}},
    "required": ["result"],
    "additionalProperties": False,
}
