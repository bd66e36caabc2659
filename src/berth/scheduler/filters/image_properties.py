"""ImagePropertiesFilter: the host must be able to run the image's kind of guest.

An image may name an architecture (``hw_architecture``), a hypervisor type
(``img_hv_type``), a VM mode (``hw_vm_mode``), all canonicalized on translation
(``berth.scheduler.image_props``), and a hypervisor version predicate
(``img_hv_requested_version``, e.g. ``>=6.0,<8``). Nova's semantics:

- an image that asks none of these passes every host;
- otherwise the host must list, in its registered ``supported_instances``, a triple that
  agrees with every one the image names (an unnamed one matches anything); a host that
  registered no ``supported_instances`` cannot show that it can, and fails;
- the host's ``hypervisor_version`` (Nova's integer, ``2012000`` = 2.12.0) must satisfy
  the predicate.

Two deliberate differences from Nova, both so that what the image says is never silently
ignored: the triple is compared position by position (Nova asks whether each wanted value
appears anywhere in the triple, which lets ``hw_vm_mode=xen`` match a Xen hypervisor
running HVM guests), and a version predicate is checked even when the image names no
architecture, type or mode, and fails a host that reports no version (Nova skips it then).

One reason per unmet requirement, constant for the request, so hosts aggregate; what a
named host offers instead is in the detail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

import numpy as np

from berth.model.capabilities import HostCapabilities, version_parts, version_text
from berth.query.capacity import Mask
from berth.scheduler.filters.compute_capabilities import NOT_REGISTERED
from berth.scheduler.hosts import Hosts
from berth.scheduler.image_props import ImageRequirements
from berth.scheduler.protocols import PASS, Context, Verdict
from berth.scheduler.spec_match import VersionBound

_ANY = "*"


def wanted_triple(image: ImageRequirements) -> tuple[str | None, str | None, str | None]:
    return image.architecture, image.hypervisor_type, image.vm_mode


def supports(caps: HostCapabilities, wanted: tuple[str | None, str | None, str | None]) -> bool:
    """Some supported instance agrees with every named part of ``wanted``."""
    return any(
        all(want is None or want == have for want, have in zip(wanted, triple, strict=True))
        for triple in caps.supported_instances
    )


def version_ok(caps: HostCapabilities, bounds: tuple[VersionBound, ...]) -> bool:
    version = caps.hypervisor_version
    if version is None:
        return False
    parts = version_parts(version)
    return all(bound.satisfied_by(parts) for bound in bounds)


def predicate_text(bounds: tuple[VersionBound, ...]) -> str:
    return ",".join(f"{b.op}{'.'.join(str(p) for p in b.version)}" for b in bounds)


def _image_text(image: ImageRequirements) -> str:
    named = [
        ("hw_architecture", image.architecture),
        ("img_hv_type", image.hypervisor_type),
        ("hw_vm_mode", image.vm_mode),
    ]
    return ", ".join(f"{key}={value}" for key, value in named if value is not None)


def _triple_text(triple: Sequence[str | None]) -> str:
    return "/".join(part or _ANY for part in triple)


class ImagePropertiesFilter:
    name: ClassVar[str] = "ImagePropertiesFilter"
    per_instance: ClassVar[bool] = False

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        image = ctx.spec.image
        wanted = wanted_triple(image)
        bounds = image.hypervisor_version
        asks_kind = any(part is not None for part in wanted)
        if not asks_kind and not bounds:
            return PASS
        found: Sequence[HostCapabilities | None] = [
            ctx.facts.capabilities.get(root) for root in hosts
        ]
        size = len(hosts)

        def mask(test: Iterable[bool]) -> Mask:
            return np.fromiter(test, dtype=bool, count=size)

        rejected = [(NOT_REGISTERED, mask(c is None for c in found))]
        if asks_kind:
            rejected.append(
                (
                    f"no supported_instances registered (image asks {_image_text(image)})",
                    mask(c is not None and not c.supported_instances for c in found),
                )
            )
            rejected.append(
                (
                    f"does not support {_image_text(image)}",
                    mask(
                        c is not None and bool(c.supported_instances) and not supports(c, wanted)
                        for c in found
                    ),
                )
            )
        if bounds:
            rejected.append(
                (
                    f"hypervisor version does not satisfy img_hv_requested_version="
                    f"{predicate_text(bounds)}",
                    mask(c is not None and not version_ok(c, bounds) for c in found),
                )
            )

        def detail(pos: int) -> str:
            caps = found[pos]
            host = hosts.name(pos)
            if caps is None:
                return (
                    f"host {host} has not registered its capabilities "
                    f"(PUT /berth/v1/hosts/{hosts.uuid(pos)}/capabilities)"
                )
            if asks_kind and not supports(caps, wanted):
                if not caps.supported_instances:
                    return f"host {host} registered no supported_instances"
                offered = ", ".join(_triple_text(t) for t in caps.supported_instances)
                return f"host {host} supports {offered}; the image needs {_triple_text(wanted)}"
            if bounds and not version_ok(caps, bounds):
                if caps.hypervisor_version is None:
                    return f"host {host} reports no hypervisor_version"
                return (
                    f"host {host} runs hypervisor version "
                    f"{version_text(caps.hypervisor_version)} ({caps.hypervisor_version})"
                )
            return ""

        return Verdict(tuple(rejected), detail=detail)
