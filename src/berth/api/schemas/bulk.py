"""Request schema for the bulk provider-tree load (POST /berth/v1/provider_trees).

Each item carries what Placement's per-provider calls would: the POST /resource_providers
body (uuid required here, since children refer to it), the PUT inventories record schema
unchanged, the PUT traits list and the PUT aggregates list. The batch size is bounded by
the server's configuration, checked before this schema (see the handler).

The schema is the single authority on what is valid, but jsonschema spends ~1 ms on an
item with three inventories, which would cap a bulk load near 1,000 providers/s per
worker on validation alone. ``plainly_valid`` is a fast check that accepts only items the
schema certainly accepts (it is stricter: e.g. ``2.0`` for an integer falls through); a
batch it accepts whole skips jsonschema, anything else is judged by the schema.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from berth.api.schemas.inventories import RECORD, RESOURCE_CLASS_PATTERN
from berth.api.schemas.resource_providers import MAX_NAME_LENGTH
from berth.model.names import MAX_NAME_LENGTH as MAX_TRAIT_LENGTH
from berth.model.uuids import is_uuid_like

_UUID: dict[str, Any] = {"type": "string", "format": "uuid"}

# One provider of the batch.
PROVIDER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "uuid": _UUID,
        "name": {"type": "string", "maxLength": MAX_NAME_LENGTH},
        "parent_provider_uuid": {"anyOf": [_UUID, {"type": "null"}]},
        "inventories": {
            "type": "object",
            "patternProperties": {RESOURCE_CLASS_PATTERN: copy.deepcopy(RECORD)},
            "additionalProperties": False,
        },
        "traits": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_TRAIT_LENGTH},
        },
        "aggregates": {"type": "array", "items": _UUID, "uniqueItems": True},
    },
    "required": ["uuid", "name"],
    "additionalProperties": False,
}

# The whole body: a non-empty list of providers, parents before their children.
LOAD: dict[str, Any] = {
    "type": "object",
    "properties": {"providers": {"type": "array", "items": PROVIDER, "minItems": 1}},
    "required": ["providers"],
    "additionalProperties": False,
}


_KEYS = frozenset(PROVIDER["properties"])
_CLASS_NAME = re.compile(r"[A-Z0-9_]+")
# (name, minimum, maximum, integer?) of every inventory field, read off the schema itself.
_RECORD_FIELDS = tuple(
    (name, spec["minimum"], spec["maximum"], spec["type"] == "integer")
    for name, spec in RECORD["properties"].items()
)
_RECORD_KEYS = frozenset(RECORD["properties"])
_RECORD_REQUIRED = frozenset(RECORD["required"])


def _plain_record(record: object) -> bool:
    if type(record) is not dict or not record.keys() <= _RECORD_KEYS:
        return False
    if not record.keys() >= _RECORD_REQUIRED:
        return False
    for name, low, high, integer in _RECORD_FIELDS:
        if name not in record:
            continue
        value = record[name]
        kind = type(value)
        if not (kind is int or (kind is float and not integer)) or not low <= value <= high:
            return False
    return True


def _plain_uuid(value: object) -> bool:
    return type(value) is str and is_uuid_like(value)


def plainly_valid(item: object) -> bool:
    """True only if ``item`` certainly satisfies ``PROVIDER`` (False: ask the schema)."""
    if type(item) is not dict or not item.keys() <= _KEYS or "name" not in item:
        return False
    name = item["name"]
    if type(name) is not str or len(name) > MAX_NAME_LENGTH or not _plain_uuid(item.get("uuid")):
        return False
    parent = item.get("parent_provider_uuid")
    if parent is not None and not _plain_uuid(parent):
        return False
    inventories = item.get("inventories", {})
    if type(inventories) is not dict:
        return False
    for rc, record in inventories.items():
        if _CLASS_NAME.fullmatch(rc) is None or not _plain_record(record):
            return False
    traits = item.get("traits", [])
    if type(traits) is not list:
        return False
    for trait in traits:
        if type(trait) is not str or not 1 <= len(trait) <= MAX_TRAIT_LENGTH:
            return False
    aggregates = item.get("aggregates", [])
    if type(aggregates) is not list or len(set(map(str, aggregates))) != len(aggregates):
        return False
    return all(_plain_uuid(agg) for agg in aggregates)
