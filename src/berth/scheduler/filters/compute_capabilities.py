"""ComputeCapabilitiesFilter: flavor ``capabilities:<path>`` extra specs must match what
the host registered (``PUT /berth/v1/hosts/{uuid}/capabilities``).

Each requirement's path is resolved on the host's capabilities as Nova resolves it on
its host state (``HostCapabilities.lookup``: an attribute such as ``hypervisor_type`` or
``cpu_info:features``, else a key of the host's stats) and the value must satisfy the
spec's operator (``berth.scheduler.spec_match``). As in Nova, a host without the value
fails. A host that registered no capabilities at all fails every request that has
``capabilities:`` specs, under its own reason, so the explanation says which hosts are
missing a registration rather than which value they lack.

Reasons are per requirement ("lacks capability cpu_info:vendor=Intel"), so hosts failing
the same spec aggregate; what a named host has instead is in the detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from berth.model.capabilities import CapabilityValue, HostCapabilities
from berth.scheduler.hosts import Hosts
from berth.scheduler.protocols import PASS, Context, Verdict
from berth.scheduler.spec_match import MatchOp
from berth.scheduler.specs import Requirement

NOT_REGISTERED = "registered no capabilities"
_SHOWN_ITEMS = 12


def requirement_text(req: Requirement) -> str:
    """The requirement as an operator writes it: ``cpu_info:vendor=Intel``, or with its
    operator: ``cpu_info:features <all-in> avx2 sse4.2``, ``hypervisor_version >= 6000000``."""
    path = ":".join(req.path)
    match = req.match
    if match.op is MatchOp.TEXT:
        return f"{path}={match.operands[0]}"
    if match.op is MatchOp.OR:
        return f"{path} " + " ".join(f"<or> {operand}" for operand in match.operands)
    return f"{path} {match.op.value} {' '.join(match.operands)}"


def value_text(value: CapabilityValue) -> str:
    """A host's value for a detail line; long lists are cut short."""
    if isinstance(value, str):
        return repr(value)
    if not value:
        return "an empty list"
    shown = ", ".join(value[:_SHOWN_ITEMS])
    if len(value) > _SHOWN_ITEMS:
        shown += f", ... ({len(value)} in all)"
    return f"[{shown}]"


def meets(caps: HostCapabilities, req: Requirement) -> bool:
    value = caps.lookup(req.path)
    return value is not None and req.match.matches(value)


class ComputeCapabilitiesFilter:
    name: ClassVar[str] = "ComputeCapabilitiesFilter"
    per_instance: ClassVar[bool] = False

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        reqs = ctx.spec.capabilities
        if not reqs:
            return PASS
        found: Sequence[HostCapabilities | None] = [
            ctx.facts.capabilities.get(root) for root in hosts
        ]
        size = len(hosts)
        rejected = [
            (NOT_REGISTERED, np.fromiter((c is None for c in found), dtype=bool, count=size))
        ]
        for req in reqs:
            failed = np.fromiter(
                (c is not None and not meets(c, req) for c in found), dtype=bool, count=size
            )
            rejected.append((f"lacks capability {requirement_text(req)}", failed))

        def detail(pos: int) -> str:
            caps = found[pos]
            host = hosts.name(pos)
            if caps is None:
                wanted = ", ".join(r.source for r in reqs)
                return (
                    f"host {host} has not registered its capabilities "
                    f"(PUT /berth/v1/hosts/{hosts.uuid(pos)}/capabilities); the flavor asks "
                    f"for {wanted}"
                )
            for req in reqs:
                if not meets(caps, req):
                    value = caps.lookup(req.path)
                    path = ":".join(req.path)
                    if value is None:
                        return f"{req.source}: host {host} reports no {path}"
                    return f"{req.source}: host {host} has {value_text(value)}"
            return ""

        return Verdict(tuple(rejected), detail=detail)
