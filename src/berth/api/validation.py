"""JSON-schema validation at the edge, with Placement's wording for failures.

Schemas are compiled once and cached by identity; a failure names the first violated
constraint, the way Placement's "JSON does not validate: …" messages do.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema import Draft7Validator, FormatChecker

from berth.api.errors import BadRequest

_CACHE: dict[int, Draft7Validator] = {}
_FORMATS = FormatChecker()


def validate(schema: dict[str, Any], data: Any) -> Any:
    """Validate ``data`` against ``schema``; 400 "JSON does not validate: …" when it fails."""
    validator = _CACHE.get(id(schema))
    if validator is None:
        validator = Draft7Validator(schema, format_checker=_FORMATS)
        _CACHE[id(schema)] = validator
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise BadRequest(f"JSON does not validate: {error.message}")
    return data
