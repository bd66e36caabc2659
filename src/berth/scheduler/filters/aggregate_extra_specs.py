"""AggregateInstanceExtraSpecsFilter: flavor ``aggregate_instance_extra_specs:`` keys must
match the metadata of the host's aggregates.

For each requirement the host passes when some aggregate it is in has the key with a
value the requirement's operator accepts (Nova's semantics: no aggregate with the key
means the host fails).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from berth.scheduler.host_metadata import Described
from berth.scheduler.hosts import Hosts
from berth.scheduler.protocols import PASS, Context, Verdict
from berth.scheduler.spec_match import SpecMatch


def _unmatched(match: SpecMatch, key: str) -> Callable[[Described], bool]:
    """Whether no aggregate of a host with this metadata has ``key`` with a value
    ``match`` accepts."""

    def question(meta: Described) -> bool:
        return not any(match.matches(m[key]) for m in meta.values() if key in m)

    return question


class AggregateInstanceExtraSpecsFilter:
    name: ClassVar[str] = "AggregateInstanceExtraSpecsFilter"
    per_instance: ClassVar[bool] = False

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        specs = ctx.spec.aggregate_specs
        if not specs:
            return PASS
        rejected = []
        for req in specs:
            key = ":".join(req.path)
            failed = ctx.facts.metadata.per_host(hosts.roots, _unmatched(req.match, key), bool)
            rejected.append((f"aggregate metadata does not match {req.source}", failed))

        def detail(pos: int) -> str:
            root = int(hosts.roots[pos])
            for req in specs:
                key = ":".join(req.path)
                values = ctx.facts.values(root, key)
                if not any(req.match.matches(v) for v in values):
                    have = ", ".join(sorted(values)) if values else "no aggregate with that key"
                    return f"{req.source}: host {hosts.name(pos)} has {have}"
            return ""

        return Verdict(tuple(rejected), detail=detail)
