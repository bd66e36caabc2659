"""Per-host build results: how many builds failed on a host since its last success.

Nova's BuildFailureWeigher pushes hosts that keep failing builds to the back (a host with a
broken hypervisor or network otherwise attracts every request, since it looks empty), and
one successful build clears the count. That is all kept here: a counter per root provider
(a compute node is the root of its tree), raised by ``record_failure`` and reset by
``record_success``. Increments are done by the database (``failed_builds + 1``), so two
reports racing for one host both count; no generation is needed.

The resident index does not read build results, so nothing here writes the change log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, case, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.db import tables
from berth.model.errors import ConcurrentUpdate

HS = tables.host_stats

_CHUNK = 500
# The count lives in a 32-bit column; it stops there instead of overflowing.
_MAX_COUNT = 2**31 - 1


@dataclass(frozen=True, slots=True)
class HostStats:
    """A host's build record; a host never reported on has zero failures and no times."""

    root_provider_id: int
    failed_builds: int = 0
    last_failure_at: datetime | None = None
    updated_at: datetime | None = None


def get(conn: Connection, root_id: int) -> HostStats:
    row = conn.execute(
        select(HS.c.failed_builds, HS.c.last_failure_at, HS.c.updated_at).where(
            HS.c.root_provider_id == root_id
        )
    ).first()
    if row is None:
        return HostStats(root_id)
    return HostStats(root_id, int(row.failed_builds), row.last_failure_at, row.updated_at)


def record_failure(conn: Connection, root_id: int) -> HostStats:
    """Count one failed build on host ``root_id`` (the caller has checked it is a root)."""
    stamp = tables.now()
    values = {"last_failure_at": stamp, "updated_at": stamp}
    if not _increment(conn, root_id, values):
        try:
            with conn.begin_nested():
                conn.execute(insert(HS).values(root_provider_id=root_id, failed_builds=1, **values))
        except IntegrityError as exc:
            # Either another report created the row first (count on it) or the provider
            # was deleted meanwhile (nothing left to count on: the caller retries and 404s).
            if not _increment(conn, root_id, values):
                raise ConcurrentUpdate(
                    f"Host {root_id} changed concurrently. Please retry"
                ) from exc
    return get(conn, root_id)


def record_success(conn: Connection, root_id: int) -> HostStats:
    """A build succeeded on the host: its failure count starts again from zero (the time
    of the last failure stays, for operators)."""
    conn.execute(
        update(HS)
        .where(HS.c.root_provider_id == root_id)
        .values(failed_builds=0, updated_at=tables.now())
    )
    return get(conn, root_id)


def failures_by_root(conn: Connection, root_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Failed-build counts of hosts with at least one (of ``root_ids``, or every host);
    a host that is absent has none, which keeps the answer small for the weigher."""
    query = select(HS.c.root_provider_id, HS.c.failed_builds).where(HS.c.failed_builds > 0)
    if root_ids is None:
        return {root: int(n) for root, n in conn.execute(query)}
    wanted = sorted(set(root_ids))
    out: dict[int, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = conn.execute(query.where(HS.c.root_provider_id.in_(chunk)))
        out.update({root: int(n) for root, n in rows})
    return out


def _increment(conn: Connection, root_id: int, values: dict[str, datetime]) -> bool:
    result = conn.execute(
        update(HS)
        .where(HS.c.root_provider_id == root_id)
        .values(
            failed_builds=case(
                (HS.c.failed_builds < _MAX_COUNT, HS.c.failed_builds + 1),
                else_=HS.c.failed_builds,
            ),
            **values,
        )
    )
    return result.rowcount == 1
