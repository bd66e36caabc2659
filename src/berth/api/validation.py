"""JSON-schema validation at the edge, with Placement's wording for failures.

Schemas are compiled once and cached by identity; a failure names the first violated
constraint, the way Placement's "JSON does not validate: …" messages do.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema import Draft7Validator, FormatChecker

from berth.api.errors import BadRequest
from berth.model.uuids import is_uuid_like

_CACHE: dict[int, Draft7Validator] = {}
_FORMATS = FormatChecker()
# Placement's "uuid" format also accepts dashless and braced forms (oslo's is_uuid_like);
# jsonschema's own checker insists on dashes.
# Like every format, it only constrains strings.
_FORMATS.checks("uuid")(lambda value: not isinstance(value, str) or is_uuid_like(value))


def validate(schema: dict[str, Any], data: Any, *, failure: str = "JSON does not validate") -> Any:
    """Validate ``data`` against ``schema``; 400 "JSON does not validate: …" when it fails.

    Query strings are checked the same way with ``failure="Invalid query string
    parameters"`` (see ``validate_query``), which is how Placement words those.
    """
    validator = _CACHE.get(id(schema))
    if validator is None:
        validator = Draft7Validator(schema, format_checker=_FORMATS)
        _CACHE[id(schema)] = validator
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        # str(error) = message + "Failed validating '<keyword>' in schema[...]": Placement
        # shows the whole text and clients/tests match on both parts.
        raise BadRequest(f"{failure}: {error}")
    return data


def validate_query(schema: dict[str, Any], params: dict[str, str]) -> dict[str, str]:
    """Validate query parameters (last value of each key) against ``schema``."""
    validate(schema, params, failure="Invalid query string parameters")
    return params
