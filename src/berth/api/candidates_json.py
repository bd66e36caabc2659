"""GET /allocation_candidates bodies, written as JSON bytes from cached fragments.

An unlimited request over 10,000 hosts answers ~10,000 allocation requests and ~14,000
provider summaries (5-6 MB). Building that as dicts and ``json.dumps``-ing it costs far
more than finding the candidates, and nearly all of it repeats from one request to the
next. So the body is assembled from pieces of JSON text, joined once:

* a provider summary's JSON (per microversion band, from 1.27 on, where it no longer
  depends on the request) is remembered next to the very ``ProviderSummary`` it was
  rendered from. The index builds a new summary object whenever the provider or its
  tree changes, so a remembered fragment is reused only while its object is the one in
  hand (an identity check: safe across threads, databases and refreshes);
* the allocation requests of a ``UniformBlock`` (one provider per class) come in a few
  shapes (which classes share a provider, in which id order); each shape is a list of
  literal pieces with the providers' quoted uuids between them, laid out for all rows
  at once in a numpy object array;
* the rest (the general search's candidates) are rendered one by one, as values.

The bytes are exactly what ``json.dumps(body, separators=(",", ":"))`` gives for the
same answer, with the same key order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from operator import attrgetter, is_, itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from berth.api.microversion import Version
from berth.model.candidates import AllocationRequest, CandidateRequest, ProviderSummary
from berth.model.candidates import CandidateResult as Result
from berth.query.capacity import IntArray
from berth.query.results import CandidateList, UniformBlock

ObjectArray = npt.NDArray[np.object_]
# A summary, its quoted uuid, and its fragment followed by a comma: b'"uuid":{...},'
# (the body joins them as they are; the last one loses its comma).
_Entry = tuple[ProviderSummary, bytes, bytes]

_provider_id = attrgetter("provider_id")
_summary_of = itemgetter(0)
_quoted_of = itemgetter(1)
_text_of = itemgetter(2)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class SummaryTexts:
    """Remembered summary fragments for one microversion band (see the module doc).

    Entries of providers that no longer exist are never asked for again; the memo is
    dropped whole once it holds far more entries than the largest answer needs."""

    def __init__(self, band: Version) -> None:
        self.band = band
        self._entries: dict[int, _Entry] = {}
        self._largest = 0
        self._lock = threading.Lock()

    def texts(
        self, summaries: Sequence[ProviderSummary], pids: list[int]
    ) -> tuple[list[bytes], list[bytes]]:
        """Per summary (``pids`` are their provider ids), in order: its quoted uuid and
        its fragment, comma included. All in C-level passes when every fragment is
        remembered."""
        self._largest = max(self._largest, len(summaries))
        found = list(map(self._entries.get, pids))
        try:
            fresh = all(map(is_, map(_summary_of, found), summaries))  # type: ignore[arg-type]
        except TypeError:  # some never rendered (None has no [0])
            fresh = False
        if not fresh:
            found = [self._entry(s, e) for s, e in zip(summaries, found, strict=True)]
        return list(map(_quoted_of, found)), list(map(_text_of, found))  # type: ignore[arg-type]

    def _entry(self, summary: ProviderSummary, entry: _Entry | None) -> _Entry:
        if entry is not None and entry[0] is summary:
            return entry
        quoted = _dumps(summary.uuid)
        text = quoted + b":" + _dumps(summary_body(summary, self.band, None)) + b","
        made = (summary, quoted, text)
        with self._lock:
            if len(self._entries) > 2 * self._largest + 4096:
                self._entries = {}
            self._entries[summary.provider_id] = made
        return made


_BANDS = {band: SummaryTexts(band) for band in (Version(1, 27), Version(1, 29))}


def summary_body(
    s: ProviderSummary, version: Version, requested: frozenset[str] | None
) -> dict[str, Any]:
    """One provider summary; before 1.27 only the ``requested`` classes are shown."""
    body: dict[str, Any] = {
        "resources": {
            r.resource_class: {"capacity": r.capacity, "used": r.used}
            for r in s.resources
            if requested is None or r.resource_class in requested
        }
    }
    if version >= (1, 17):
        body["traits"] = list(s.traits)
    if version >= (1, 29):
        body["parent_provider_uuid"] = s.parent_uuid
        body["root_provider_uuid"] = s.root_uuid
    return body


def _summary_texts(
    result: Result, pids: list[int], request: CandidateRequest, version: Version
) -> tuple[list[bytes], list[bytes]]:
    summaries = result.provider_summaries
    if version >= (1, 27):
        memo = _BANDS[Version(1, 29) if version >= (1, 29) else Version(1, 27)]
        return memo.texts(summaries, pids)
    requested = request.resource_classes
    quoted = [_dumps(s.uuid) for s in summaries]
    texts = [
        q + b":" + _dumps(summary_body(s, version, requested)) + b","
        for q, s in zip(quoted, summaries, strict=True)
    ]
    return quoted, texts


def _separated(pieces: list[bytes]) -> list[bytes]:
    """``pieces`` with a comma between each two (for one final join)."""
    if not pieces:
        return []
    out = [b","] * (2 * len(pieces) - 1)
    out[0::2] = pieces
    return out


def render(result: Result, request: CandidateRequest, version: Version) -> bytes:
    """The whole response body for ``version``."""
    pids = list(map(_provider_id, result.provider_summaries))
    quoted, summary_texts = _summary_texts(result, pids, request, version)
    areqs = result.allocation_requests
    segments = areqs.segments if isinstance(areqs, CandidateList) else (tuple(areqs),)
    pieces = [b'{"allocation_requests":[']
    by_pid: ObjectArray | None = None
    for n, segment in enumerate(segments):
        if n:
            pieces.append(b",")
        if isinstance(segment, UniformBlock):
            if by_pid is None:
                by_pid = _quoted_by_pid(pids, quoted)
            pieces += _block_pieces(segment, by_pid, version)
        else:
            pieces += _separated([_dumps(areq_body(a, result, version)) for a in segment])
    pieces.append(b'],"provider_summaries":{')
    if summary_texts:
        pieces += summary_texts
        pieces[-1] = pieces[-1][:-1]  # no comma after the last one
    pieces.append(b"}}")
    return b"".join(pieces)


# -- the general path ------------------------------------------------------------------


def _by_provider(areq: AllocationRequest, result: Result) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for a in areq.allocations:
        out.setdefault(result.uuids[a.provider_id], {})[a.resource_class] = a.amount
    return out


def areq_body(areq: AllocationRequest, result: Result, version: Version) -> dict[str, Any]:
    """One allocation request: a list (1.10/1.11) or keyed by provider (1.12+), with
    ``mappings`` from 1.34."""
    if version < (1, 12):
        return {
            "allocations": [
                {"resource_provider": {"uuid": uuid}, "resources": resources}
                for uuid, resources in _by_provider(areq, result).items()
            ]
        }
    body: dict[str, Any] = {
        "allocations": {
            uuid: {"resources": resources} for uuid, resources in _by_provider(areq, result).items()
        }
    }
    if version >= (1, 34):
        body["mappings"] = {
            suffix: [result.uuids[pid] for pid in pids] for suffix, pids in areq.mappings
        }
    return body


# -- uniform blocks --------------------------------------------------------------------


def _quoted_by_pid(pids: list[int], quoted: list[bytes]) -> ObjectArray:
    """The quoted uuid at each summarized provider's id (every provider a block
    allocates from is summarized)."""
    table: ObjectArray = np.empty(max(pids, default=0) + 1, dtype=object)
    table[np.array(pids, dtype=np.int64)] = quoted
    return table


def _shape_code(pids: IntArray) -> IntArray:
    """Per row, a number telling which columns hold the same provider and in which id
    order the distinct ones come (base 3: <, =, > for every pair of columns)."""
    k = pids.shape[1]
    code: IntArray = np.zeros(len(pids), dtype=np.int64)
    for i in range(k):
        for j in range(i + 1, k):
            code = code * 3 + np.sign(pids[:, i] - pids[:, j]) + 1
    return code


def _layout(block: UniformBlock, row: list[int], version: Version) -> tuple[list[bytes], list[int]]:
    """The text of an allocation request shaped like ``row`` (provider id per column):
    literal pieces with a quoted uuid between each two, and the column whose provider's
    uuid goes in each gap."""
    distinct = sorted(set(row))
    leaders = [row.index(pid) for pid in distinct]
    served = list(zip(block.resources, row, strict=True))
    resources = [_dumps({rc: n for (rc, n), p in served if p == pid}) for pid in distinct]
    tokens: list[bytes | int] = []
    if version < (1, 12):
        tokens.append(b'{"allocations":[')
        for i, (leader, r) in enumerate(zip(leaders, resources, strict=True)):
            tokens += [b"," if i else b"", b'{"resource_provider":{"uuid":', leader]
            tokens.append(b'},"resources":' + r + b"}")
        tokens.append(b"]}")
    else:
        tokens.append(b'{"allocations":{')
        for i, (leader, r) in enumerate(zip(leaders, resources, strict=True)):
            tokens += [b"," if i else b"", leader, b':{"resources":' + r + b"}"]
        tokens.append(b"}")
        if version >= (1, 34):
            tokens.append(b',"mappings":{"":[')
            for i, leader in enumerate(leaders):
                tokens += [b"," if i else b"", leader]
            tokens.append(b"]}")
        tokens.append(b"}")
    literals, columns = [b""], []
    for token in tokens:
        if isinstance(token, int):
            columns.append(token)
            literals.append(b"")
        else:
            literals[-1] += token
    return literals, columns


# More columns than this would overflow the shape code; such blocks go row by row.
_MAX_SHAPED_COLUMNS = 24


def _block_pieces(block: UniformBlock, quoted: ObjectArray, version: Version) -> list[bytes]:
    """The block's allocation requests, comma-separated, as pieces: per row the literals
    of its shape interleaved with its providers' quoted uuids, laid out in one object
    array (no per-row formatting in Python)."""
    pids = block.pids
    if not len(block):
        return []
    if pids.shape[1] > _MAX_SHAPED_COLUMNS:
        one = [block.rows(i, i + 1) for i in range(len(block))]
        return _separated([b"".join(_block_pieces(row, quoted, version)) for row in one])
    shapes, first, which = np.unique(_shape_code(pids), return_index=True, return_inverse=True)
    layouts = [_layout(block, pids[row].tolist(), version) for row in first.tolist()]
    width = max(2 * len(columns) + 1 for _, columns in layouts)
    cells: ObjectArray = np.empty((len(block), width), dtype=object)
    if len(shapes) > 1:
        cells[:] = b""
    for n, (literals, columns) in enumerate(layouts):
        rows: slice | IntArray = slice(None) if len(shapes) == 1 else np.flatnonzero(which == n)
        at = pids[rows]
        cells[rows, 0] = b"," + literals[0]  # the comma after the row before
        for i, literal in enumerate(literals[1:], start=1):
            cells[rows, 2 * i] = literal
        for i, column in enumerate(columns):
            cells[rows, 2 * i + 1] = quoted[at[:, column]]
    cells[0, 0] = cells[0, 0][1:]
    found: list[bytes] = cells.ravel().tolist()
    return found
