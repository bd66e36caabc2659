"""Aggregates: provider membership in placement aggregates (plain uuid sets).

Placement has no aggregate resource of its own; an aggregate exists while some provider
names it. ``placement_aggregates`` interns each uuid once (id <-> uuid) and
``resource_provider_aggregates`` links providers to those ids. Interned rows are never
removed: another provider may name the same uuid at any moment, and an unused row is
harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from berth.db import changes, tables

AGG = tables.placement_aggregates
RPA = tables.resource_provider_aggregates


def for_provider(conn: Connection, provider_id: int) -> list[str]:
    """The aggregate uuids provider ``provider_id`` belongs to, in association order."""
    rows = conn.execute(
        select(AGG.c.uuid)
        .select_from(RPA.join(AGG, AGG.c.id == RPA.c.aggregate_id))
        .where(RPA.c.resource_provider_id == provider_id)
        .order_by(AGG.c.id)
    )
    return [uuid for (uuid,) in rows]


def ids_by_uuid(conn: Connection, uuids: Iterable[str]) -> dict[str, int]:
    """Map known aggregate uuids to their ids; unknown ones are absent (nobody is in them)."""
    wanted = set(uuids)
    if not wanted:
        return {}
    rows = conn.execute(select(AGG.c.uuid, AGG.c.id).where(AGG.c.uuid.in_(wanted)))
    return {uuid: id_ for uuid, id_ in rows}


def _intern(conn: Connection, uuids: Sequence[str]) -> dict[str, int]:
    """Ids for ``uuids``, inserting rows for new ones.

    A concurrent writer may intern the same uuid between our read and insert; the insert
    then runs in a savepoint so the unique-constraint failure only undoes that row, and
    the winner's id is read back.
    """
    ids = ids_by_uuid(conn, uuids)
    for uuid in uuids:
        if uuid in ids:
            continue
        try:
            with conn.begin_nested():
                key = conn.execute(insert(AGG).values(uuid=uuid)).inserted_primary_key
            assert key is not None
            ids[uuid] = key[0]
        except IntegrityError:
            ids.update(ids_by_uuid(conn, [uuid]))
    return ids


def set_for_provider(conn: Connection, provider_id: int, uuids: Sequence[str]) -> None:
    """Make provider ``provider_id`` a member of exactly ``uuids`` (the caller bumps or
    checks the generation as its microversion requires)."""
    wanted = list(dict.fromkeys(uuids))
    changes.touch(conn, (provider_id,))
    ids = _intern(conn, wanted)
    current = set(
        conn.execute(
            select(RPA.c.aggregate_id).where(RPA.c.resource_provider_id == provider_id)
        ).scalars()
    )
    target = {ids[u] for u in wanted}
    stale = current - target
    if stale:
        conn.execute(
            delete(RPA).where(
                RPA.c.resource_provider_id == provider_id, RPA.c.aggregate_id.in_(stale)
            )
        )
    fresh = target - current
    if fresh:
        conn.execute(
            insert(RPA),
            [{"resource_provider_id": provider_id, "aggregate_id": a} for a in sorted(fresh)],
        )
