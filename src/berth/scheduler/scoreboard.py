"""Weigher columns kept current from one instance to the next, instead of weighed anew.

Ranking 10,000 hosts means every weigher's raw column, normalized to 0-100 over the
hosts still in the running, times its multiplier, summed (``berth.scheduler.weighing``).
A decision placing many instances (``num_instances``, or a batch of requests decided
together) used to weigh every host again per instance, although placing one instance
changes the raw values of exactly one host: weighers are *host-local* (a host's raw
value depends on that host's own usage, members and planned instances, never on
another host's). So the raw columns are computed once, as a ``(weighers, hosts)``
matrix, and after each pick only the picked host's row is weighed again.

Normalization is still exact per ranking: min and max are taken over the current
survivors, and the weighted sum of min-max normalized columns is the linear form
``coef @ raw - coef @ low`` with ``coef = 100 * multiplier / (high - low)``: one
matrix-vector product rather than one normalize-and-add pass per weigher. Columns with
a NaN or infinite value ("no opinion") fall back to ``weighing.rank``, which handles them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from berth.scheduler.hosts import FloatArray, Hosts
from berth.scheduler.protocols import Context, Weigher
from berth.scheduler.weighing import Ranking, rank


class Scoreboard:
    """The raw weigher matrix over one decision's candidate ``hosts`` (the survivors of
    the filters that run once per decision); per-instance survivors are subsets."""

    def __init__(
        self, weighers: Sequence[tuple[Weigher, float]], hosts: Hosts, ctx: Context
    ) -> None:
        self.weighers = [(w, m) for w, m in weighers if m != 0.0]
        self.hosts = hosts
        self.multipliers = np.array([m for _, m in self.weighers], dtype=np.float64)
        # One contiguous row per weigher: min/max/dot run along memory, not across it.
        self.raw = np.empty((len(self.weighers), len(hosts)), dtype=np.float64)
        for k, (w, _) in enumerate(self.weighers):
            self.raw[k] = w.weigh(hosts, ctx)
        self._dirty: set[int] = set()
        # Per weigher, min and max over every host, kept current as rows change (a pick
        # rarely moves them; when it moves the host holding one, that row is rescanned).
        self._finite = bool(np.isfinite(self.raw).all())
        self._low = self.raw.min(axis=1) if len(hosts) else np.zeros(len(self.weighers))
        self._high = self.raw.max(axis=1) if len(hosts) else np.zeros(len(self.weighers))

    def reweigh(self, ctx: Context) -> None:
        """The request now placed belongs to another server group: weigh the columns of
        the weighers that read the group again, for every host."""
        for k, (w, _) in enumerate(self.weighers):
            if w.reads_group:
                self.raw[k] = w.weigh(self.hosts, ctx)
                self._finite = self._finite and bool(np.isfinite(self.raw[k]).all())
                self._low[k], self._high[k] = self.raw[k].min(), self.raw[k].max()

    def touch(self, roots: Iterable[int]) -> None:
        """These hosts changed (an instance was planned there, or taken back): weigh their
        rows again before the next ranking."""
        self._dirty.update(roots)

    def _refresh(self, ctx: Context) -> None:
        """Weigh the changed hosts again, every weigher at once, and move min/max along:
        a row is rescanned only where a changed host held its min or max."""
        if not self._dirty or not len(self.hosts):
            self._dirty.clear()
            return
        wanted = np.fromiter(self._dirty, dtype=np.int64, count=len(self._dirty))
        self._dirty.clear()
        wanted.sort()
        rows = np.searchsorted(self.hosts.roots, wanted)
        inside = rows < len(self.hosts)
        rows, wanted = rows[inside], wanted[inside]
        rows = rows[self.hosts.roots[rows] == wanted]  # hosts not in this board: none
        if not len(rows):
            return
        changed = self.hosts.subset(rows)  # by position: no pass over every host
        new = np.empty((len(self.weighers), len(rows)), dtype=np.float64)
        for k, (w, _) in enumerate(self.weighers):
            new[k] = w.weigh(changed, ctx)
        old = self.raw[:, rows]
        self.raw[:, rows] = new
        if not np.isfinite(new).all():
            self._finite = False
        # A row needs a rescan only where a host that held its min rose or one that held
        # its max fell; otherwise the new values can only widen the bounds.
        lost_low = ((old == self._low[:, None]) & (new > old)).any(axis=1)
        lost_high = ((old == self._high[:, None]) & (new < old)).any(axis=1)
        np.minimum(self._low, new.min(axis=1), out=self._low)
        np.maximum(self._high, new.max(axis=1), out=self._high)
        for k in np.flatnonzero(lost_low | lost_high).tolist():
            row = self.raw[k]  # a view: no copy of the row
            self._low[k], self._high[k] = row.min(), row.max()

    def rank(self, survivors: Hosts, ctx: Context) -> Ranking:
        """``survivors`` (a subset of ``hosts``) ranked exactly as ``weighing.rank`` would
        rank the weighers' columns over them."""
        self._refresh(ctx)
        if not len(survivors) or not self.weighers:
            return Ranking(survivors.roots, np.zeros(len(survivors)), lambda _pos: {})
        if survivors is self.hosts or len(survivors) == len(self.hosts):
            raw, low, high = self.raw, self._low, self._high
        else:
            raw = self.raw[:, survivors.positions_in(self.hosts)]
            low, high = raw.min(axis=1), raw.max(axis=1)
        if not self._finite and not np.isfinite(raw).all():
            columns = [(w.name, m, raw[k]) for k, (w, m) in enumerate(self.weighers)]
            return rank(survivors, columns)
        span = high - low
        scale = np.zeros(len(self.weighers), dtype=np.float64)
        spread = span > 0
        scale[spread] = 100.0 / span[spread]
        coef = scale * self.multipliers
        total: FloatArray = coef @ raw - float(coef @ low)
        names = [w.name for w, _ in self.weighers]
        multipliers = self.multipliers

        def points(pos: int) -> dict[str, float]:
            normalized = (raw[:, pos] - low) * scale
            return {
                name: round(float(normalized[k] * multipliers[k]), 2)
                for k, name in enumerate(names)
            }

        return Ranking(survivors.roots, total, points)
