"""AggregateInstanceExtraSpecsFilter: flavor ``aggregate_instance_extra_specs:`` keys must
match the metadata of the host's aggregates.

For each requirement the host passes when some aggregate it is in has the key with a
value the requirement's operator accepts (Nova's semantics: no aggregate with the key
means the host fails).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from berth.scheduler.hosts import Hosts
from berth.scheduler.protocols import PASS, Context, Verdict


class AggregateInstanceExtraSpecsFilter:
    name: ClassVar[str] = "AggregateInstanceExtraSpecsFilter"

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        specs = ctx.spec.aggregate_specs
        if not specs:
            return PASS
        rejected = []
        for req in specs:
            key = ":".join(req.path)
            failed = np.fromiter(
                (
                    not any(
                        req.match.matches(v)
                        for v in ctx.facts.values(int(hosts.roots[pos]), key)
                    )
                    for pos in range(len(hosts))
                ),
                dtype=bool,
                count=len(hosts),
            )
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
