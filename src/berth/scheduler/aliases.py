"""PCI aliases: the operator's names for kinds of passthrough device, as Nova's [pci] alias.

A flavor asks for devices by alias (``pci_passthrough:alias=gpu:2``); the operator's
configuration says what an alias means: a vendor and product id, optionally a device
type (``type-PCI``, ``type-PF``, ``type-VF``) and a NUMA affinity policy. Each entry is a
JSON object, the same text an operator already has in nova.conf::

    {"name": "a1", "vendor_id": "8086", "product_id": "154d",
     "device_type": "type-PF", "numa_policy": "required"}

With PCI devices tracked in Placement (Nova's ``pci_in_placement``), a device is a
resource of class ``CUSTOM_PCI_<VENDOR>_<PRODUCT>`` unless the alias names its own
``resource_class``; ``traits`` are required of the device's provider. Virtual functions
are the exception: berth registers them as ``SRIOV_NET_VF`` on their PF's provider
(``berth.model.topology_placement``), so a ``type-VF`` alias asks for that class and the
PCI fitting checks the vendor and product.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import os_traits

from berth.model.errors import InvalidError
from berth.model.guest import PciNumaPolicy
from berth.model.names import is_valid_custom_name, standard_resource_classes, standard_traits
from berth.model.topology import PciDeviceType
from berth.model.topology_placement import SRIOV_NET_VF, pci_class

_HEX4 = re.compile(r"^[0-9a-fA-F]{4}$")
_KEYS = frozenset(
    {
        "name",
        "vendor_id",
        "product_id",
        "device_type",
        "numa_policy",
        "resource_class",
        "traits",
        "live_migratable",
    }
)
MAX_ALIAS_NAME = 256
# Devices one alias entry may ask for; more is a typo, not a guest.
MAX_DEVICES = 64

E = TypeVar("E", PciDeviceType, PciNumaPolicy)


@dataclass(frozen=True, slots=True)
class PciAlias:
    """One alias: which devices it means and how close to the guest's NUMA cells."""

    name: str
    vendor_id: str | None
    product_id: str | None
    device_type: PciDeviceType | None = None
    numa_policy: PciNumaPolicy | None = None
    resource_class: str | None = None
    traits: frozenset[str] = frozenset()

    @property
    def placement_class(self) -> str:
        """The Placement resource class one device of this alias is counted in."""
        if self.resource_class is not None:
            return self.resource_class
        if self.device_type is PciDeviceType.VF:
            return SRIOV_NET_VF
        assert self.vendor_id is not None and self.product_id is not None
        return pci_class(self.vendor_id, self.product_id)


def _normalized(name: str, standard: Iterable[str]) -> str:
    """A standard name as is; anything else as Nova normalizes it (``CUSTOM_`` + upper)."""
    if name in standard or is_valid_custom_name(name):
        return name
    return str(os_traits.normalize_name(name))


def _text(entry: Mapping[str, object], key: str, label: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidError(f"{label}: {key} must be a non-empty string")
    return value


def _hex(entry: Mapping[str, object], key: str, label: str) -> str | None:
    value = _text(entry, key, label)
    if value is not None and not _HEX4.match(value):
        raise InvalidError(f"{label}: {key} must be 4 hexadecimal digits, got {value!r}")
    return value.lower() if value is not None else None


def _traits(entry: Mapping[str, object], label: str) -> frozenset[str]:
    value = entry.get("traits")
    if value is None:
        return frozenset()
    if isinstance(value, str):
        names = [t.strip() for t in value.split(",")]
    elif isinstance(value, list) and all(isinstance(t, str) for t in value):
        names = [str(t).strip() for t in value]
    else:
        raise InvalidError(f"{label}: traits must be a comma-separated string or a list")
    if not all(names):
        raise InvalidError(f"{label}: traits has an empty name")
    return frozenset(_normalized(n, standard_traits()) for n in names)


def _enum_value(
    entry: Mapping[str, object], key: str, label: str, kind: type[E]
) -> E | None:
    value = _text(entry, key, label)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidError(f"{label}: {key} must be one of {allowed}, got {value!r}") from None


def parse_alias(entry: Mapping[str, object] | str) -> PciAlias:
    """One alias entry (a JSON object or its text) -> ``PciAlias``; errors name the key."""
    if isinstance(entry, str):
        try:
            entry = json.loads(entry)
        except ValueError as exc:
            raise InvalidError(f"PCI alias is not valid JSON: {exc}") from None
    if not isinstance(entry, Mapping):
        raise InvalidError("PCI alias must be a JSON object")
    label = f"PCI alias {entry.get('name')!r}" if "name" in entry else "PCI alias"
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise InvalidError(f"{label}: unknown key {unknown[0]!r}")
    name = _text(entry, "name", label)
    if name is None or len(name) > MAX_ALIAS_NAME or ":" in name or "," in name:
        raise InvalidError(
            f"{label}: name must be 1 to {MAX_ALIAS_NAME} characters without ':' or ','"
        )
    vendor = _hex(entry, "vendor_id", label)
    product = _hex(entry, "product_id", label)
    rc = _text(entry, "resource_class", label)
    if rc is None and (vendor is None or product is None):
        raise InvalidError(f"{label}: vendor_id and product_id are required without resource_class")
    if "live_migratable" in entry and not isinstance(entry["live_migratable"], bool | str):
        raise InvalidError(f"{label}: live_migratable must be a boolean")
    return PciAlias(
        name=name,
        vendor_id=vendor,
        product_id=product,
        device_type=_enum_value(entry, "device_type", label, PciDeviceType),
        numa_policy=_enum_value(entry, "numa_policy", label, PciNumaPolicy),
        resource_class=_normalized(rc, standard_resource_classes()) if rc else None,
        traits=_traits(entry, label),
    )


def parse_aliases(entries: Iterable[Mapping[str, object] | str]) -> dict[str, PciAlias]:
    """The operator's alias list -> aliases by name; a name defined twice is refused."""
    out: dict[str, PciAlias] = {}
    for entry in entries:
        alias = parse_alias(entry)
        if alias.name in out:
            raise InvalidError(f"PCI alias {alias.name!r} is defined twice")
        out[alias.name] = alias
    return out


_REQUEST = re.compile(r"^\s*([^:,]+?)\s*:\s*(\d+)\s*$")


def parse_alias_request(key: str, text: str) -> tuple[tuple[str, int], ...]:
    """``pci_passthrough:alias`` text (``a1:2,a2:1``) -> (alias name, count) pairs."""
    out: list[tuple[str, int]] = []
    for part in text.split(","):
        found = _REQUEST.match(part)
        if found is None:
            raise InvalidError(f"{key}: expected 'alias:count[,alias:count...]', got {text!r}")
        name, count = found.group(1), int(found.group(2))
        if not 1 <= count <= MAX_DEVICES:
            raise InvalidError(f"{key}: count for {name} must be between 1 and {MAX_DEVICES}")
        if any(name == seen for seen, _ in out):
            raise InvalidError(f"{key}: alias {name} is named twice")
        out.append((name, count))
    return tuple(out)
