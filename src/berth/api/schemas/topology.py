"""What PUT /berth/v1/hosts/{uuid}/topology accepts: shape by JSON schema, then the
cross-field rules a schema cannot say (``check``).

Everything a compute node could get wrong is caught here with a 400 that names the field
(``cells[1].dedicated_cpus: CPU 3 is also in cells[0]``), so nothing invalid reaches
the database and no mistake turns into a 500 further down: CPU ids are small
non-negative integers, a CPU is shared or dedicated in exactly one cell, sibling groups
stay inside their cell and do not overlap, page sizes are powers of two (KiB, 4 and up)
whose pages fit the cell's memory, PCI addresses read ``DDDD:BB:DD.F``, a VF names a PF
of the same document, a device's NUMA cell exists, and physnets are Neutron-style names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jsonschema
from jsonschema import Draft7Validator

from berth.api.errors import BadRequest
from berth.model.inventory import MAX_INT

MAX_CPU_ID = 65535
MAX_CELLS = 64
MAX_CPUS_PER_LIST = 8192
MAX_DEVICES = 16384
MAX_CELL_ID = 1023
_BIG = {"type": "integer", "minimum": 0, "maximum": MAX_INT}
_CPU_LIST = {
    "type": "array",
    "items": {"type": "integer", "minimum": 0, "maximum": MAX_CPU_ID},
    "uniqueItems": True,
    "maxItems": MAX_CPUS_PER_LIST,
}
# Python's "$" also matches before a final newline: maxLength keeps one out.
_HEX4 = {"type": "string", "pattern": "^[0-9a-fA-F]{4}$", "maxLength": 4}
# domain:bus:device.function; the device number is 5 bits, the function 3.
_PCI_ADDRESS = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[01][0-9a-fA-F]\\.[0-7]$",
    "maxLength": 12,
}
# Neutron physical network names as used in bridge/interface mappings (no ':' or ',').
_PHYSNET = {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_.-]{1,64}$", "maxLength": 64}

_PAGE = {
    "type": "object",
    "properties": {"size_kb": {**_BIG, "minimum": 4}, "total": _BIG, "reserved": _BIG},
    "required": ["size_kb", "total"],
    "additionalProperties": False,
}

_CELL = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 0, "maximum": MAX_CELL_ID},
        "socket": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_CELL_ID},
        "shared_cpus": _CPU_LIST,
        "dedicated_cpus": _CPU_LIST,
        "siblings": {
            "type": "array",
            "items": {**_CPU_LIST, "minItems": 1},
            "maxItems": MAX_CPUS_PER_LIST,
        },
        "memory_mb": _BIG,
        "pages": {"type": "array", "items": _PAGE, "maxItems": 16},
    },
    "required": ["id", "memory_mb"],
    "additionalProperties": False,
}

_DEVICE = {
    "type": "object",
    "properties": {
        "address": _PCI_ADDRESS,
        "vendor_id": _HEX4,
        "product_id": _HEX4,
        "device_type": {"type": "string", "enum": ["type-PCI", "type-PF", "type-VF"]},
        "numa_cell": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_CELL_ID},
        "physnet": _PHYSNET,
        "parent_address": {"anyOf": [_PCI_ADDRESS, {"type": "null"}]},
    },
    "required": ["address", "vendor_id", "product_id", "device_type"],
    "additionalProperties": False,
}

_RATIO = {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000}

PUT_TOPOLOGY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "generation": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
        "cpu_allocation_ratio": _RATIO,
        "ram_allocation_ratio": _RATIO,
        "reserved_host_cpus": _BIG,
        "reserved_host_memory_mb": _BIG,
        "cells": {"type": "array", "items": _CELL, "minItems": 1, "maxItems": MAX_CELLS},
        "devices": {"type": "array", "items": _DEVICE, "maxItems": MAX_DEVICES},
    },
    "required": ["cells"],
    "additionalProperties": False,
}


_VALIDATOR = Draft7Validator(PUT_TOPOLOGY)


def _bad(field: str, problem: str) -> BadRequest:
    return BadRequest(f"Invalid topology: {field}: {problem}")


def _field(path: Iterable[str | int]) -> str:
    """``cells[0].shared_cpus[1]`` for the JSON path ("body" for the document itself)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "body"


def validate_put(data: Any) -> dict[str, Any]:
    """The PUT body, checked whole; 400 ``Invalid topology: <field>: <problem>``."""
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(data))
    if error is not None:
        raise _bad(_field(error.absolute_path), error.message)
    body: dict[str, Any] = data
    check(body)
    return body


def check(body: dict[str, Any]) -> None:
    """The cross-field rules, after ``PUT_TOPOLOGY`` passed; 400 naming the first problem."""
    cells: list[dict[str, Any]] = body["cells"]
    _check_cells(cells)
    _check_devices(body.get("devices", []), {int(c["id"]) for c in cells})


def _check_cells(cells: list[dict[str, Any]]) -> None:
    seen_ids: set[int] = set()
    owner: dict[int, str] = {}  # cpu -> "cells[i]"
    for i, cell in enumerate(cells):
        where = f"cells[{i}]"
        cell_id = int(cell["id"])
        if cell_id in seen_ids:
            raise _bad(f"{where}.id", f"cell id {cell_id} appears more than once")
        seen_ids.add(cell_id)
        both = {int(c) for c in cell.get("shared_cpus", [])} & {
            int(c) for c in cell.get("dedicated_cpus", [])
        }
        if both:
            raise _bad(f"{where}.dedicated_cpus", f"CPU {min(both)} is also in shared_cpus")
        cpus: set[int] = set()
        for key in ("shared_cpus", "dedicated_cpus"):
            for cpu in (int(c) for c in cell.get(key, [])):
                if cpu in owner:
                    raise _bad(f"{where}.{key}", f"CPU {cpu} is also in {owner[cpu]}")
                cpus.add(cpu)
        owner.update(dict.fromkeys(cpus, where))
        _check_siblings(where, cell.get("siblings", []), cpus)
        _check_pages(where, cell)


def _check_siblings(where: str, groups: list[list[int]], cpus: set[int]) -> None:
    grouped: set[int] = set()
    for j, group in enumerate(groups):
        for cpu in (int(c) for c in group):
            if cpu not in cpus:
                raise _bad(f"{where}.siblings[{j}]", f"CPU {cpu} is not one of this cell's CPUs")
            if cpu in grouped:
                raise _bad(f"{where}.siblings[{j}]", f"CPU {cpu} is in another sibling group")
            grouped.add(cpu)


def _check_pages(where: str, cell: dict[str, Any]) -> None:
    sizes: set[int] = set()
    huge_kb = 0
    for j, pool in enumerate(cell.get("pages", [])):
        size, total = int(pool["size_kb"]), int(pool["total"])
        if size & (size - 1):
            raise _bad(f"{where}.pages[{j}].size_kb", f"{size} is not a power of two")
        if size in sizes:
            raise _bad(f"{where}.pages[{j}].size_kb", f"page size {size} appears more than once")
        sizes.add(size)
        if int(pool.get("reserved", 0)) > total:
            raise _bad(f"{where}.pages[{j}].reserved", "more pages reserved than there are")
        if size > 4:
            huge_kb += size * total
    memory_mb = int(cell["memory_mb"])
    if huge_kb > memory_mb * 1024:
        raise _bad(
            f"{where}.pages",
            f"huge pages hold {-(-huge_kb // 1024)} MiB, more than the cell's memory_mb "
            f"({memory_mb})",
        )


def _check_devices(devices: list[dict[str, Any]], cell_ids: set[int]) -> None:
    seen: set[str] = set()
    pfs = {str(d["address"]).lower(): d for d in devices if d["device_type"] == "type-PF"}
    vf_physnets: dict[str, set[str]] = {}
    for i, dev in enumerate(devices):
        where = f"devices[{i}]"
        address = str(dev["address"]).lower()
        if address in seen:
            raise _bad(f"{where}.address", f"{address} appears more than once")
        seen.add(address)
        cell = dev.get("numa_cell")
        if cell is not None and int(cell) not in cell_ids:
            raise _bad(f"{where}.numa_cell", f"no cell {cell} in cells")
        parent = dev.get("parent_address")
        if dev["device_type"] != "type-VF":
            if parent is not None:
                raise _bad(f"{where}.parent_address", "only a type-VF device has a parent")
            continue
        if parent is None:
            raise _bad(f"{where}.parent_address", "a type-VF device must name its PF")
        pf = pfs.get(str(parent).lower())
        if pf is None:
            raise _bad(f"{where}.parent_address", f"{parent} is not a type-PF in devices")
        physnet = dev.get("physnet")
        if physnet is not None:
            if pf.get("physnet") is not None and pf["physnet"] != physnet:
                raise _bad(
                    f"{where}.physnet",
                    f"{physnet} differs from its PF's physnet {pf['physnet']}",
                )
            names = vf_physnets.setdefault(str(parent).lower(), set())
            names.add(physnet)
            if len(names) > 1:
                raise _bad(
                    f"{where}.physnet",
                    f"the VFs of {parent} name different physnets: {', '.join(sorted(names))}",
                )
