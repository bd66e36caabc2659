"""Who may fill one slot of a request, anchor by anchor, as sorted columns.

A slot (one resource class of the unsuffixed group, or one suffixed group) is filled by
one provider, and candidates are only combined within one anchor (see ``matching``).
Its options are rows ``(anchor, provider)`` sorted by anchor then provider id: an
ordinary provider gives one row (its own root), a sharing provider one row per tree it
serves. The engine works through the anchors in *windows* (ranges of anchor ids, see
``candidates``), so a ``Choices`` holds the rows of one window ``[lo, hi)``, and
answers without a Python loop: which anchors have options (a bitmap), how many (a
bincount), and the options at one anchor (a binary search), only for the anchors the
search reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from berth.query.capacity import IntArray, Mask

_EMPTY: IntArray = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Window:
    """The anchor ids ``lo <= id < hi``."""

    lo: int
    hi: int

    @property
    def size(self) -> int:
        return self.hi - self.lo


@dataclass(frozen=True, slots=True, eq=False)
class SharedRows:
    """A sharing provider and every anchor it may serve for one slot, ascending."""

    pid: int
    anchors: IntArray

    def within(self, window: Window) -> IntArray:
        lo, hi = np.searchsorted(self.anchors, (window.lo, window.hi))
        found: IntArray = self.anchors[lo:hi]
        return found


@dataclass(frozen=True, slots=True, eq=False)
class Choices:
    """Rows ``(anchors[i], pids[i])`` of one window, sorted by anchor, then provider id;
    ``shared[i]`` when the provider is a sharing one (it may serve other anchors too)."""

    window: Window
    anchors: IntArray
    pids: IntArray
    shared: Mask

    @classmethod
    def build(
        cls, window: Window, own_pids: IntArray, own_roots: IntArray, sharing: list[SharedRows]
    ) -> Choices:
        """Rows from providers serving their own tree (``own_*``, sorted by root, then
        id) and from sharing providers (their anchors within ``window``)."""
        parts = [(rows.pid, rows.within(window)) for rows in sharing]
        parts = [(pid, anchors) for pid, anchors in parts if len(anchors)]
        if not parts:
            return cls(window, own_roots, own_pids, np.zeros(len(own_pids), dtype=bool))
        sp = np.concatenate([np.full(len(a), pid, dtype=np.int64) for pid, a in parts])
        sa = np.concatenate([a for _, a in parts])
        pids = np.concatenate((own_pids, sp))
        anchors = np.concatenate((own_roots, sa))
        shared = np.concatenate((np.zeros(len(own_pids), dtype=bool), np.ones(len(sp), bool)))
        order = np.lexsort((pids, anchors))
        return cls(window, anchors[order], pids[order], shared[order])

    def __len__(self) -> int:
        return int(self.pids.shape[0])

    def mark(self) -> Mask:
        """A bitmap over the window's anchor ids (offset ``lo``): True where there are
        rows."""
        marks = np.zeros(self.window.size, dtype=bool)
        marks[self.anchors - self.window.lo] = True
        return marks

    def counts(self) -> IntArray:
        """How many rows each anchor id of the window has (offset ``lo``)."""
        found: IntArray = np.bincount(self.anchors - self.window.lo, minlength=self.window.size)
        return found

    @staticmethod
    def starts(counts: IntArray) -> IntArray:
        """Per anchor id of the window, the position of its first row, given ``counts``."""
        ends: IntArray = np.cumsum(counts)
        return ends - counts

    def at(self, anchor: int) -> tuple[int, ...]:
        """The providers that may fill the slot on ``anchor``, in id order."""
        lo = int(np.searchsorted(self.anchors, anchor, side="left"))
        hi = int(np.searchsorted(self.anchors, anchor, side="right"))
        found: list[int] = self.pids[lo:hi].tolist()
        return tuple(found)
