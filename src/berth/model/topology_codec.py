"""The JSON form of ``HostTopology`` and ``Assignment``: one shape for the API and storage.

The same plain-JSON shape is what ``PUT /berth/v1/hosts/{uuid}/topology`` accepts and
answers and what ``berth.db.topology`` stores (inside a versioned envelope), so a
document read back is exactly the one written. CPU sets are written as sorted lists, so
equal topologies encode to equal text and a re-PUT of the same host can be recognised
as "nothing changed". Decoding assumes a validated document (``berth.api.schemas.
topology`` checks what clients send; storage only holds what was validated): a malformed
one raises ``KeyError``/``TypeError``/``ValueError``, never returns a half-built value.

PCI identifiers are hexadecimal and case-insensitive; they are lower-cased on the way in
(as Nova reports them) so that ``0000:AF:00.0`` and ``0000:af:00.0`` name one device.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from berth.model.guest import Assignment, CellAssignment
from berth.model.topology import HostCell, HostTopology, PagePool, PciDevice, PciDeviceType


def _ids(values: Iterable[int]) -> list[int]:
    return sorted(values)


def _id_set(values: Iterable[Any]) -> frozenset[int]:
    return frozenset(int(v) for v in values)


def _hex(value: str | None) -> str | None:
    return None if value is None else str(value).lower()


# --------------------------------------------------------------------------- topology


def topology_to_json(topology: HostTopology) -> dict[str, Any]:
    """The wire form: ``{"cells": [...], "devices": [...]}`` with every key present."""
    return {
        "cells": [_cell_to_json(c) for c in topology.cells],
        "devices": [_device_to_json(d) for d in topology.devices],
    }


def _cell_to_json(cell: HostCell) -> dict[str, Any]:
    return {
        "id": cell.id,
        "socket": cell.socket,
        "shared_cpus": _ids(cell.shared_cpus),
        "dedicated_cpus": _ids(cell.dedicated_cpus),
        "siblings": [_ids(group) for group in cell.siblings],
        "memory_mb": cell.memory_mb,
        "pages": [
            {"size_kb": p.size_kb, "total": p.total, "reserved": p.reserved} for p in cell.pages
        ],
    }


def _device_to_json(dev: PciDevice) -> dict[str, Any]:
    return {
        "address": dev.address,
        "vendor_id": dev.vendor_id,
        "product_id": dev.product_id,
        "device_type": dev.device_type.value,
        "numa_cell": dev.numa_cell,
        "physnet": dev.physnet,
        "parent_address": dev.parent_address,
    }


def topology_from_json(data: Mapping[str, Any]) -> HostTopology:
    """Build the value from its wire form; optional keys take the model's defaults."""
    return HostTopology(
        cells=tuple(_cell_from_json(c) for c in data["cells"]),
        devices=tuple(_device_from_json(d) for d in data.get("devices", ())),
    )


def _cell_from_json(data: Mapping[str, Any]) -> HostCell:
    socket = data.get("socket")
    return HostCell(
        id=int(data["id"]),
        shared_cpus=_id_set(data.get("shared_cpus", ())),
        dedicated_cpus=_id_set(data.get("dedicated_cpus", ())),
        memory_mb=int(data["memory_mb"]),
        siblings=tuple(_id_set(group) for group in data.get("siblings", ())),
        pages=tuple(
            PagePool(int(p["size_kb"]), int(p["total"]), int(p.get("reserved", 0)))
            for p in data.get("pages", ())
        ),
        socket=None if socket is None else int(socket),
    )


def _device_from_json(data: Mapping[str, Any]) -> PciDevice:
    cell = data.get("numa_cell")
    return PciDevice(
        address=str(data["address"]).lower(),
        vendor_id=str(data["vendor_id"]).lower(),
        product_id=str(data["product_id"]).lower(),
        device_type=PciDeviceType(data["device_type"]),
        numa_cell=None if cell is None else int(cell),
        physnet=data.get("physnet"),
        parent_address=_hex(data.get("parent_address")),
    )


# --------------------------------------------------------------------------- assignment


def assignment_to_json(assignment: Assignment) -> dict[str, Any]:
    return {
        "cells": [
            {
                "guest_cell": c.guest_cell,
                "host_cell": c.host_cell,
                "pinning": [[guest, host] for guest, host in c.pinning],
                "page_size_kb": c.page_size_kb,
                "pages": c.pages,
                "reserved_cpus": _ids(c.reserved_cpus),
                "shared_vcpus": c.shared_vcpus,
                "memory_mb": c.memory_mb,
            }
            for c in assignment.cells
        ],
        "emulator_cpus": _ids(assignment.emulator_cpus),
        "devices": [[source, address] for source, address in assignment.devices],
    }


def assignment_from_json(data: Mapping[str, Any]) -> Assignment:
    return Assignment(
        cells=tuple(
            CellAssignment(
                guest_cell=int(c["guest_cell"]),
                host_cell=int(c["host_cell"]),
                pinning=tuple((int(g), int(h)) for g, h in c.get("pinning", ())),
                page_size_kb=int(c.get("page_size_kb", 4)),
                pages=int(c.get("pages", 0)),
                reserved_cpus=_id_set(c.get("reserved_cpus", ())),
                shared_vcpus=int(c.get("shared_vcpus", 0)),
                memory_mb=int(c.get("memory_mb", 0)),
            )
            for c in data["cells"]
        ),
        emulator_cpus=_id_set(data.get("emulator_cpus", ())),
        devices=tuple((str(s), str(a)) for s, a in data.get("devices", ())),
    )
