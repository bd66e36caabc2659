"""How many instances each host runs, and how many started recently: for the weighers.

An instance is a consumer holding allocations anywhere in the host's tree. "Recent" is a
consumer whose allocations on the tree were written within the window: berth's stand-in
for Nova's ``num_io_ops`` (instances being built, resized or migrated), since a claim is
written exactly when such an operation starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.engine import Connection

from berth.db import tables

A = tables.allocations
RP = tables.resource_providers
_CHUNK = 2000


def instances_by_root(
    conn: Connection, root_ids: Iterable[int], *, since: datetime | None = None
) -> dict[int, int]:
    """Root provider id -> distinct consumers allocated in its tree (hosts with none
    absent); with ``since``, only allocations written at or after it."""
    wanted = sorted(set(root_ids))
    out: dict[int, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        query = (
            select(RP.c.root_provider_id, func.count(distinct(A.c.consumer_id)))
            .select_from(A.join(RP, RP.c.id == A.c.resource_provider_id))
            .where(RP.c.root_provider_id.in_(chunk))
            .group_by(RP.c.root_provider_id)
        )
        if since is not None:
            query = query.where(A.c.created_at >= since)
        for root, count in conn.execute(query):
            out[int(root)] = int(count)
    return out
