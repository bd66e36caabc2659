"""Why hosts were not chosen: every rejection recorded, aggregated per stage and reason.

"No valid host was found" is the most repeated complaint about Nova's scheduler: the
operator cannot tell which filter removed which host. Here every stage (the Placement
pre-filter, each filter, the weighers' ranking, the claim) reports each host it removes
with a ``Rejection``: a stable reason label that aggregates well ("insufficient
MEMORY_MB", "lacks HW_CPU_X86_AVX512F", "would break anti-affinity of group g1") and a
host-specific detail ("needs 4096 MB, 2048 free"). A host is counted once, at the first
stage that removed it, as Nova's and kube-scheduler's summaries do; hosts the request
names in ``explain_hosts`` keep every reason from every stage, so "why not cn42?" gets
the whole answer, not just the first obstacle.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Rejection:
    """One host removed by one stage. ``reason`` aggregates; ``detail`` is per host."""

    stage: str
    reason: str
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        out = {"stage": self.stage, "reason": self.reason}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass
class StageTally:
    """How many hosts one stage removed, by reason."""

    stage: str
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def removed(self) -> int:
        return sum(self.reasons.values())


class Explanation:
    """The running account of one scheduling decision."""

    def __init__(self, total_hosts: int, explain_hosts: frozenset[str] = frozenset()) -> None:
        self.total_hosts = total_hosts
        self.explain_hosts = explain_hosts
        self._stages: dict[str, StageTally] = {}
        self._first: dict[str, Rejection] = {}
        self._all: dict[str, list[Rejection]] = {name: [] for name in explain_hosts}
        self.chosen: list[str] = []

    def stage(self, name: str) -> StageTally:
        """Declare a stage (in pipeline order) even if it ends up removing nobody."""
        tally = self._stages.get(name)
        if tally is None:
            tally = self._stages[name] = StageTally(name)
        return tally

    def reject(self, host: str, rejection: Rejection) -> None:
        """Count ``host`` as removed by ``rejection.stage`` (first removal only)."""
        if host not in self._first:
            self._first[host] = rejection
            self.stage(rejection.stage).reasons[rejection.reason] += 1
        if host in self._all:
            self._all[host].append(rejection)

    def reject_many(self, stage: str, reason: str, count: int) -> None:
        """Count ``count`` anonymous hosts at once (a vectorized stage that only names the
        hosts the request asked about, through ``reject``)."""
        if count:
            self.stage(stage).reasons[reason] += count

    def note(self, host: str, rejection: Rejection) -> None:
        """An extra reason for an explained host that an earlier stage already removed."""
        if host in self._all:
            self._all[host].append(rejection)

    def wants(self, host: str) -> bool:
        return host in self._all

    @property
    def removed(self) -> int:
        return sum(t.removed for t in self._stages.values())

    def why_not(self, host: str) -> list[Rejection]:
        """Every recorded reason for an explained host; the first one otherwise."""
        if host in self._all:
            return list(self._all[host])
        first = self._first.get(host)
        return [first] if first is not None else []

    def summary(self) -> str:
        """``"0/10000 hosts: 7,210 insufficient MEMORY_MB, 2,100 lack HW_CPU_X86_AVX512F"``:
        how many hosts were chosen out of how many, then every reason, largest first."""
        counts: Counter[str] = Counter()
        for tally in self._stages.values():
            counts.update(tally.reasons)
        head = f"{len(self.chosen)}/{self.total_hosts:,} hosts"
        if not counts:
            return head
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return head + ": " + ", ".join(f"{n:,} {reason}" for reason, n in ranked)

    def as_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "hosts_total": self.total_hosts,
            "chosen": list(self.chosen),
            "stages": [
                {
                    "stage": t.stage,
                    "removed": t.removed,
                    "reasons": dict(sorted(t.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
                }
                for t in self._stages.values()
            ],
            "hosts": {host: [r.as_json() for r in reasons] for host, reasons in self._all.items()},
        }


class Recorder:
    """Stage declarations and rejections recorded once and replayed into the
    ``Explanation`` of every instance of a request: what the pre-filter, the host hints
    and the filters that do not depend on earlier instances (``Filter.per_instance``
    false) found is the same for all of them, so it is computed once per decision."""

    def __init__(self) -> None:
        self._events: list[tuple[str, str, str, Rejection | None, int]] = []

    def stage(self, name: str) -> None:
        self._events.append(("stage", name, "", None, 0))

    def reject(self, host: str, rejection: Rejection) -> None:
        self._events.append(("reject", host, "", rejection, 0))

    def reject_many(self, stage: str, reason: str, count: int) -> None:
        if count:
            self._events.append(("many", stage, reason, None, count))

    def replay(self, into: Explanation) -> None:
        for kind, name, reason, rejection, count in self._events:
            if kind == "stage":
                into.stage(name)
            elif kind == "reject":
                assert rejection is not None
                into.reject(name, rejection)
            else:
                into.reject_many(name, reason, count)
