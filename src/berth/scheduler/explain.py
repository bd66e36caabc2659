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
from dataclasses import dataclass
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


class Explanation:
    """The running account of one scheduling decision."""

    def __init__(self, total_hosts: int, explain_hosts: frozenset[str] = frozenset()) -> None:
        self.total_hosts = total_hosts
        self.explain_hosts = explain_hosts
        # stage -> reason -> hosts removed; None until the stage removes one (most
        # stages of most instances remove nobody: no counter is made for them)
        self._stages: dict[str, Counter[str] | None] = {}
        self._first: dict[str, Rejection] = {}
        self._all: dict[str, list[Rejection]] = {name: [] for name in explain_hosts}
        self.chosen: list[str] = []

    def stage(self, name: str) -> None:
        """Declare a stage (in pipeline order) even if it ends up removing nobody."""
        if name not in self._stages:
            self._stages[name] = None

    def _tally(self, name: str) -> Counter[str]:
        tally = self._stages.get(name)
        if tally is None:
            tally = self._stages[name] = Counter()
        return tally

    def reject(self, host: str, rejection: Rejection) -> None:
        """Count ``host`` as removed by ``rejection.stage`` (first removal only)."""
        if host not in self._first:
            self._first[host] = rejection
            self._tally(rejection.stage)[rejection.reason] += 1
        if host in self._all:
            self._all[host].append(rejection)

    def reject_many(self, stage: str, reason: str, count: int) -> None:
        """Count ``count`` anonymous hosts at once (a vectorized stage that only names the
        hosts the request asked about, through ``reject``)."""
        if count:
            self._tally(stage)[reason] += count

    def note(self, host: str, rejection: Rejection) -> None:
        """An extra reason for an explained host that an earlier stage already removed."""
        if host in self._all:
            self._all[host].append(rejection)

    def wants(self, host: str) -> bool:
        return host in self._all

    @property
    def removed(self) -> int:
        return sum(sum(t.values()) for t in self._stages.values() if t)

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
            if tally:
                counts.update(tally)
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
                    "stage": name,
                    "removed": sum(t.values()) if t else 0,
                    "reasons": dict(sorted(t.items(), key=lambda kv: (-kv[1], kv[0]))) if t else {},
                }
                for name, t in self._stages.items()
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
