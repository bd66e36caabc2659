"""ServerGroupAffinityFilter and ServerGroupAntiAffinityFilter: hard group policies.

Members counted per host are the group's members already placed (read with the group's
generation, which the claim compares-and-swaps, so a decision made on a stale member list
cannot commit) plus the instances this same request has already planned.

* affinity: once any member is placed, only that host qualifies;
* anti-affinity: a host may hold at most ``max_server_per_host`` members (default 1).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from berth.model.server_group import AFFINITY
from berth.scheduler.hosts import Hosts
from berth.scheduler.protocols import PASS, Context, Verdict


def members_on(hosts: Hosts, ctx: Context) -> np.ndarray:
    counts = np.zeros(len(hosts), dtype=np.int64)
    for root, n in ctx.facts.group_members.items():
        pos = hosts.position(root)
        if pos is not None:
            counts[pos] += n
    for root, n in ctx.planned.items():
        pos = hosts.position(root)
        if pos is not None:
            counts[pos] += n
    return counts


def _group_label(ctx: Context) -> str:
    group = ctx.facts.group
    return group.name if group is not None else "?"


class ServerGroupAffinityFilter:
    name: ClassVar[str] = "ServerGroupAffinityFilter"
    per_instance: ClassVar[bool] = True

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        group = ctx.facts.group
        if group is None or group.policy != AFFINITY:
            return PASS
        homes = set(ctx.facts.group_members) | set(ctx.planned)
        if not homes:
            return PASS
        away = ~np.isin(hosts.roots, np.fromiter(homes, dtype=np.int64))
        return Verdict(
            ((f"would break affinity of group {_group_label(ctx)}", away),),
            detail=lambda pos: f"group {_group_label(ctx)} members run on another host",
        )


class ServerGroupAntiAffinityFilter:
    name: ClassVar[str] = "ServerGroupAntiAffinityFilter"
    per_instance: ClassVar[bool] = True

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict:
        group = ctx.facts.group
        limit = group.per_host_limit if group is not None else None
        if limit is None:
            return PASS
        counts = members_on(hosts, ctx)
        return Verdict(
            ((f"would break anti-affinity of group {_group_label(ctx)}", counts >= limit),),
            detail=lambda pos: (
                f"host {hosts.name(pos)} already holds {int(counts[pos])} "
                f"member(s) of group {_group_label(ctx)} (at most {limit} per host)"
            ),
        )
