"""The two extension points of the scheduler: a Filter and a Weigher, one method each.

Modelled on the Kubernetes scheduler framework (one-method phase interfaces, 0-100
normalized scores) and on Nomad's feasibility checkers (every rejection carries a
reason), but columnar: a filter sees all hosts still in the running at once (``Hosts``)
and answers a ``Verdict`` — for each reason it has, a mask of the hosts it removes for
that reason — and a weigher answers one raw number per host. At 10,000 hosts this keeps
a filter to a few numpy operations instead of 10,000 Python calls, while the explanation
still knows, for every removed host, which filter removed it and why.

A ``Context`` carries what filters and weighers read besides the hosts: the request, its
translation (``Translated``), the facts loaded for this decision (``Facts``), the
configuration, and what this same request has already planned (``num_instances`` > 1
places instances one by one, and anti-affinity among them must hold).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np

from berth.model.schedule import ScheduleRequest
from berth.model.topology import HostUsage
from berth.query.capacity import Mask
from berth.scheduler.config import SchedulerConfig
from berth.scheduler.facts import Facts
from berth.scheduler.hosts import FloatArray, Hosts
from berth.scheduler.specs import Translated


@dataclass(frozen=True, slots=True)
class Context:
    request: ScheduleRequest
    spec: Translated
    facts: Facts
    config: SchedulerConfig
    # root id -> instances of this request already planned there (before this one)
    planned: Mapping[int, int] = field(default_factory=dict)
    # root id -> NUMA/PCI usage including what this request has planned there
    usage: Mapping[int, HostUsage] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A filter's answer: ``(reason, mask)`` pairs, each mask marking hosts removed for
    that reason (a host in several masks counts for the first). ``detail`` gives the
    host-specific text for a removed host's position, for hosts the operator asked about.
    """

    rejected: tuple[tuple[str, Mask], ...] = ()
    detail: Callable[[int], str] | None = None

    def keep(self, size: int) -> Mask:
        keep = np.ones(size, dtype=bool)
        for _, mask in self.rejected:
            keep &= ~mask
        return keep

    def reason_at(self, pos: int) -> str | None:
        for reason, mask in self.rejected:
            if mask[pos]:
                return reason
        return None


PASS = Verdict()


class Filter(Protocol):
    """Removes hosts that cannot take one more instance of this request.

    ``per_instance`` says whether the verdict can change between the instances of one
    request (it reads ``Context.planned`` or ``Context.usage``); filters that cannot, run
    once per decision when they come before every filter that can."""

    name: ClassVar[str]
    per_instance: ClassVar[bool]

    def filter(self, hosts: Hosts, ctx: Context) -> Verdict: ...


class Weigher(Protocol):
    """Scores hosts: larger raw values are better before the multiplier is applied.

    A weigher is *host-local*: a host's raw value depends on that host alone (its usage,
    the members and planned instances there), never on other hosts, so that after a
    pick only the picked host is weighed again (``berth.scheduler.scoreboard``).
    ``reads_group`` says whether it reads the request's server group (weighed again for
    every host when a batch moves on to a request of another group)."""

    name: ClassVar[str]
    reads_group: ClassVar[bool]

    def weigh(self, hosts: Hosts, ctx: Context) -> FloatArray: ...
