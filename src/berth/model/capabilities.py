"""A compute host's capabilities, as Nova's host state shows them to two filters.

Nova's compute service reports, besides resources, what its hypervisor is and can run:
the hypervisor's type, version and hostname, the host CPU (``cpu_info``: architecture,
vendor, model, topology, feature flags), the guest kinds it supports (``supported_
instances``: ``[architecture, hypervisor type, VM mode]`` triples) and free-form stats.
ComputeCapabilitiesFilter matches flavor ``capabilities:<path>`` extra specs against
them and ImagePropertiesFilter matches an image's architecture, hypervisor type, VM mode
and version predicate. Placement has none of this; a host registers it with berth
(``PUT /berth/v1/hosts/{uuid}/capabilities``) and this module is its value.

``lookup`` resolves a ``capabilities:`` path the way Nova's filter walks a host state:
the first name is an attribute, and when the host has no value for it, a key of its
stats; deeper names index into JSON objects (a text value is read as JSON first, as Nova
does with ``cpu_info``). The value found is given to the matcher as text (numbers and
booleans as Python prints them, which is what Nova compares), or, for a list, as the
texts of its items so that ``<in>`` and ``<all-in>`` test membership (``cpu_info:
features``; ``supported_instances`` is flattened to every architecture, type and mode
named in it).

Hypervisor versions are integers as Nova encodes them: ``2.12.0`` is ``2012000``
(``version_parts`` turns one back into its parts for ``img_hv_requested_version``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Architecture, hypervisor type, VM mode: one kind of guest a host can run.
SupportedInstance = tuple[str, str, str]
# What a capability path resolves to: text, or the texts of a list's items.
CapabilityValue = str | tuple[str, ...]

ATTRIBUTES = (
    "hypervisor_type",
    "hypervisor_version",
    "hypervisor_hostname",
    "cpu_info",
    "supported_instances",
    "stats",
)


@dataclass(frozen=True, slots=True)
class HostCapabilities:
    """What a host registered; None or empty where it said nothing.

    ``cpu_info`` is a JSON object (``arch``, ``vendor``, ``model``, ``topology``,
    ``features`` and whatever else the hypervisor reports); it and ``stats`` are read-only
    by convention (they come from a validated document and are never changed).
    """

    hypervisor_type: str | None = None
    hypervisor_version: int | None = None
    hypervisor_hostname: str | None = None
    cpu_info: Mapping[str, Any] = field(default_factory=dict)
    supported_instances: tuple[SupportedInstance, ...] = ()
    stats: Mapping[str, str] = field(default_factory=dict)

    def attribute(self, name: str) -> Any:
        """The named attribute, or None when the host gave no value (or it is unknown)."""
        if name not in ATTRIBUTES:
            return None
        value = getattr(self, name)
        if value is None or (isinstance(value, Mapping | tuple) and not value):
            return None
        return value

    def lookup(self, path: tuple[str, ...]) -> CapabilityValue | None:
        """The value at ``path`` (``("cpu_info", "vendor")``), or None when there is none."""
        if not path:
            return None
        current = self.attribute(path[0])
        if current is None:
            current = self.stats.get(path[0])
        for name in path[1:]:
            if isinstance(current, str):
                try:
                    current = json.loads(current)
                except ValueError:
                    return None
            if not isinstance(current, Mapping):
                return None
            current = current.get(name)
        return _flat(current)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _flat(value: Any) -> CapabilityValue | None:
    """A found value as the matcher takes it: text, or the texts of a (nested) list."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        out: list[str] = []
        for item in value:
            flat = _flat(item)
            if isinstance(flat, tuple):
                out.extend(flat)
            elif flat is not None:
                out.append(flat)
        return tuple(out)
    return _text(value)


def version_parts(version: int) -> tuple[int, int, int]:
    """Nova's integer hypervisor version as (major, minor, micro): 2012000 -> (2, 12, 0)."""
    return version // 1_000_000, version // 1_000 % 1_000, version % 1_000


def version_text(version: int) -> str:
    return ".".join(str(part) for part in version_parts(version))


# --------------------------------------------------------------------------- JSON form


def capabilities_to_json(caps: HostCapabilities) -> dict[str, Any]:
    """The wire (and stored) form, every key present; equal values give equal JSON."""
    return {
        "hypervisor_type": caps.hypervisor_type,
        "hypervisor_version": caps.hypervisor_version,
        "hypervisor_hostname": caps.hypervisor_hostname,
        "cpu_info": dict(caps.cpu_info),
        "supported_instances": [list(triple) for triple in caps.supported_instances],
        "stats": dict(sorted(caps.stats.items())),
    }


def capabilities_from_json(doc: Mapping[str, Any]) -> HostCapabilities:
    """Decode a validated document (missing keys are "not reported")."""
    version = doc.get("hypervisor_version")
    triples = []
    for triple in doc.get("supported_instances") or ():
        arch, hv_type, vm_mode = (str(part) for part in triple)
        triples.append((arch, hv_type, vm_mode))
    return HostCapabilities(
        hypervisor_type=_optional_text(doc.get("hypervisor_type")),
        hypervisor_version=None if version is None else int(version),
        hypervisor_hostname=_optional_text(doc.get("hypervisor_hostname")),
        cpu_info=dict(doc.get("cpu_info") or {}),
        supported_instances=tuple(triples),
        stats={str(k): str(v) for k, v in sorted((doc.get("stats") or {}).items())},
    )


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)
