"""What PUT /berth/v1/hosts/{uuid}/capabilities accepts: shape by JSON schema, then the
values a schema cannot judge (``validate_put``).

The document is what Nova's compute service reports about its hypervisor
(``berth.model.capabilities``); every member is optional, since a host says what it
knows. A 400 names the field at fault (``supported_instances[1][0]: unknown architecture
'z80'``). Rules worth knowing:

- names (``cpu_info`` and ``stats`` keys, CPU features) are plain words
  (``[A-Za-z0-9_.-]``): a ``capabilities:a:b`` extra spec splits its path on ``:``, so a
  name holding one could never be asked for;
- ``supported_instances`` triples must name an architecture, hypervisor type and VM mode
  Nova knows; aliases are accepted and stored canonical (``amd64`` is ``x86_64``), the
  form image requirements are compared in;
- text stays storable and printable on every engine (no NUL, no lone surrogate), numbers
  are integers within Placement's range (no floats that could turn into infinities).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jsonschema
from jsonschema import Draft7Validator

from berth.api.errors import BadRequest
from berth.api.schemas.server_groups import STORABLE
from berth.model.capabilities import HostCapabilities, capabilities_from_json
from berth.model.inventory import MAX_INT
from berth.scheduler.image_props import canonical

MAX_TEXT = 255
MAX_FEATURES = 4096
MAX_KEYS = 256
MAX_INSTANCES = 256
# "(?![\s\S])" is the very end of the text: Python's "$" also matches before a final
# newline, and a name must not carry one into the database.
_NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,255}(?![\s\S])"

_TEXT: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TEXT,
    "pattern": STORABLE,
}
# Inside cpu_info a hypervisor may well report an empty text (a model it cannot name).
_VALUE: dict[str, Any] = {"type": "string", "maxLength": MAX_TEXT, "pattern": STORABLE}
_NAME: dict[str, Any] = {"type": "string", "pattern": _NAME_PATTERN}
_INT: dict[str, Any] = {"type": "integer", "minimum": -MAX_INT, "maximum": MAX_INT}
_SCALAR: dict[str, Any] = {"anyOf": [_VALUE, _INT, {"type": "boolean"}]}
# Anything else a hypervisor reports in cpu_info: a value, a list of values, or an object
# of values (one level: what a capability path can reach and compare).
_CPU_EXTRA: dict[str, Any] = {
    "anyOf": [
        _SCALAR,
        {"type": "array", "items": _SCALAR, "maxItems": MAX_FEATURES},
        {
            "type": "object",
            "propertyNames": _NAME,
            "additionalProperties": _SCALAR,
            "maxProperties": MAX_KEYS,
        },
    ]
}

CPU_INFO: dict[str, Any] = {
    "type": "object",
    "description": "The host CPU as the hypervisor reports it (Nova's cpu_info).",
    "properties": {
        "arch": _VALUE,
        "vendor": _VALUE,
        "model": _VALUE,
        "topology": {
            "type": "object",
            "description": "sockets, cores, threads, cells, ...",
            "propertyNames": _NAME,
            "additionalProperties": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
            "maxProperties": 16,
        },
        "features": {
            "type": "array",
            "items": _NAME,
            "uniqueItems": True,
            "maxItems": MAX_FEATURES,
        },
    },
    "propertyNames": _NAME,
    "additionalProperties": _CPU_EXTRA,
    "maxProperties": 64,
}

PUT_CAPABILITIES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "generation": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
        "hypervisor_type": {**_TEXT, "description": "As the hypervisor names itself: QEMU"},
        "hypervisor_version": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_INT,
            "description": "Nova's encoding: 2.12.0 is 2012000.",
        },
        "hypervisor_hostname": _TEXT,
        "cpu_info": CPU_INFO,
        "supported_instances": {
            "type": "array",
            "description": "[architecture, hypervisor type, VM mode] per guest kind, e.g. "
            '[["x86_64", "kvm", "hvm"]].',
            "items": {
                "type": "array",
                "items": [_TEXT, _TEXT, _TEXT],
                "minItems": 3,
                "maxItems": 3,
            },
            "maxItems": MAX_INSTANCES,
        },
        "stats": {
            "type": "object",
            "description": "Free-form host stats (text values), also reachable as "
            "capabilities:<key>.",
            "propertyNames": _NAME,
            "additionalProperties": _VALUE,
            "maxProperties": MAX_KEYS,
        },
    },
    "additionalProperties": False,
}

_VALIDATOR = Draft7Validator(PUT_CAPABILITIES)
_TRIPLE = ("architecture", "hypervisor_type", "vm_mode")
_KIND_NAMES = {
    "architecture": "architecture",
    "hypervisor_type": "hypervisor type",
    "vm_mode": "VM mode",
}


def _bad(field: str, problem: str) -> BadRequest:
    return BadRequest(f"Invalid capabilities: {field}: {problem}")


def _field(path: Iterable[str | int]) -> str:
    """``supported_instances[0][1]`` for the JSON path ("body" for the document itself)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "body"


def validate_put(data: Any) -> tuple[HostCapabilities, int | None]:
    """The PUT body as capabilities (triples made canonical) and the expected generation;
    400 ``Invalid capabilities: <field>: <problem>``."""
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(data))
    if error is not None:
        raise _bad(_field(error.absolute_path), error.message)
    body: dict[str, Any] = dict(data)
    triples = []
    for i, triple in enumerate(body.get("supported_instances", [])):
        fixed = []
        for j, (kind, value) in enumerate(zip(_TRIPLE, triple, strict=True)):
            found = canonical(kind, value)
            if found is None:
                raise _bad(
                    f"supported_instances[{i}][{j}]", f"unknown {_KIND_NAMES[kind]} {value!r}"
                )
            fixed.append(found)
        if fixed not in triples:
            triples.append(fixed)
    body["supported_instances"] = triples
    generation = body.pop("generation", None)
    return capabilities_from_json(body), None if generation is None else int(generation)
