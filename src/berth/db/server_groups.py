"""Server groups and their members: Nova's affinity state, kept next to Placement's.

Two scheduler workers may place members of one group at the same moment, and an
anti-affinity group must not end up with both on one host. Membership therefore changes
only through a compare-and-swap on the group's ``generation``, exactly like a provider's:
a worker reads the group and its members, decides, and then calls ``add_members(...,
expected_generation=seen)`` in the same transaction as its claim. If another worker
changed the membership in between, the swap matches no row, ``ConcurrentUpdate`` (409)
rolls the whole claim back, and the worker re-reads and decides again. Nothing is locked
while anyone decides; the group row is locked only from the swap to the commit.

The scheduler's claim uses ``lock`` instead: it moves the generation on unconditionally
(taking the row lock), reads the members under it and checks the group's rule against
them, so concurrent claims that do not actually conflict both commit.

Every writer here touches the group row first and the member rows after it, so two
writers of one group never wait on each other in opposite orders.

The resident index knows nothing of server groups, so nothing here writes the change log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.db import many, tables
from berth.model.errors import (
    DUPLICATE_NAME,
    ConcurrentUpdate,
    ConflictError,
    InvalidError,
    NotFoundError,
)
from berth.model.server_group import ANTI_AFFINITY, POLICIES, GroupMember, ServerGroup

SG = tables.server_groups
SGM = tables.server_group_members
RP = tables.resource_providers

_MAX_GENERATION = 2**31 - 1
_CONFLICT = (
    "server group generation conflict: another request concurrently changed the members "
    "of server group {uuid}. Please re-read the group and retry"
)


def _select() -> Select[Any]:
    return select(
        SG.c.id,
        SG.c.uuid,
        SG.c.name,
        SG.c.project_id,
        SG.c.user_id,
        SG.c.policy,
        SG.c.max_server_per_host,
        SG.c.generation,
        SG.c.created_at,
        SG.c.updated_at,
    )


def _from_row(row: Row[Any]) -> ServerGroup:
    m = row._mapping
    return ServerGroup(
        id=int(m["id"]),
        uuid=str(m["uuid"]),
        name=str(m["name"]),
        project_id=str(m["project_id"]),
        user_id=str(m["user_id"]),
        policy=str(m["policy"]),
        max_server_per_host=m["max_server_per_host"],
        generation=int(m["generation"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def find(conn: Connection, uuid: str) -> ServerGroup | None:
    row = conn.execute(_select().where(SG.c.uuid == uuid)).first()
    return None if row is None else _from_row(row)


def find_many(conn: Connection, uuids: Iterable[str]) -> dict[str, ServerGroup]:
    """The groups among ``uuids`` that exist, by uuid, in one statement."""
    wanted = sorted(set(uuids))
    if not wanted:
        return {}
    rows = conn.execute(_select().where(SG.c.uuid.in_(wanted)))
    return {g.uuid: g for g in map(_from_row, rows)}


def get(conn: Connection, uuid: str) -> ServerGroup:
    """The group with ``uuid``, or 404."""
    group = find(conn, uuid)
    if group is None:
        raise NotFoundError(f"No server group with uuid {uuid} found")
    return group


def list_groups(conn: Connection, project_id: str | None = None) -> list[ServerGroup]:
    """Every group (of ``project_id`` when given), oldest first."""
    query = _select().order_by(SG.c.id)
    if project_id is not None:
        query = query.where(SG.c.project_id == project_id)
    return [_from_row(r) for r in conn.execute(query)]


def create(
    conn: Connection,
    *,
    uuid: str,
    name: str,
    project_id: str,
    user_id: str,
    policy: str,
    max_server_per_host: int | None = None,
) -> ServerGroup:
    """Insert a group at generation 0.

    409 ``placement.duplicate_name`` when the project already has a group of that name,
    409 when the uuid is taken; a concurrent creator of either is caught by the unique
    constraints and answered the same way.
    """
    if policy not in POLICIES:
        raise InvalidError(f"Unknown server group policy {policy!r}")
    if max_server_per_host is not None and (policy != ANTI_AFFINITY or max_server_per_host < 1):
        raise InvalidError("max_server_per_host needs the anti-affinity policy and must be >= 1")
    _refuse_duplicates(conn, uuid, name, project_id)
    stamp = tables.now()
    try:
        with conn.begin_nested():
            key = conn.execute(
                insert(SG).values(
                    uuid=uuid,
                    name=name,
                    project_id=project_id,
                    user_id=user_id,
                    policy=policy,
                    max_server_per_host=max_server_per_host,
                    generation=0,
                    created_at=stamp,
                    updated_at=stamp,
                )
            ).inserted_primary_key
    except IntegrityError as exc:
        _refuse_duplicates(conn, uuid, name, project_id)
        raise ConcurrentUpdate(
            f"Another request concurrently created server group {name!r}. Please retry"
        ) from exc
    assert key is not None
    return ServerGroup(
        int(key[0]), uuid, name, project_id, user_id, policy, max_server_per_host, 0, stamp, stamp
    )


def _refuse_duplicates(conn: Connection, uuid: str, name: str, project_id: str) -> None:
    taken = conn.execute(
        select(SG.c.id).where(SG.c.project_id == project_id, SG.c.name == name)
    ).first()
    if taken is not None:
        raise ConflictError(
            f"Server group with name {name!r} already exists in project {project_id}",
            code=DUPLICATE_NAME,
        )
    if conn.execute(select(SG.c.id).where(SG.c.uuid == uuid)).first() is not None:
        raise ConflictError(f"Server group with uuid {uuid} already exists")


def delete_group(conn: Connection, uuid: str) -> None:
    """Delete a group and its members (group row first: see the module docstring)."""
    group = get(conn, uuid)
    _bump(conn, group)
    conn.execute(delete(SGM).where(SGM.c.group_id == group.id))
    conn.execute(delete(SG).where(SG.c.id == group.id))


def members(conn: Connection, group_ids: Iterable[int]) -> dict[int, list[tuple[str, int | None]]]:
    """For each group id: its members as (consumer uuid, root provider id or None), in the
    order they joined. Every requested id is a key, a group without members included."""
    wanted = sorted(set(group_ids))
    out: dict[int, list[tuple[str, int | None]]] = {g: [] for g in wanted}
    if not wanted:
        return out
    rows = conn.execute(
        select(SGM.c.group_id, SGM.c.consumer_uuid, SGM.c.root_provider_id)
        .where(SGM.c.group_id.in_(wanted))
        .order_by(SGM.c.group_id, SGM.c.created_at, SGM.c.consumer_uuid)
    )
    for group_id, consumer, root in rows:
        out[group_id].append((consumer, root))
    return out


def member_details(conn: Connection, group_ids: Iterable[int]) -> dict[int, list[GroupMember]]:
    """Like ``members``, with the host's uuid and name, for showing a group."""
    wanted = sorted(set(group_ids))
    out: dict[int, list[GroupMember]] = {g: [] for g in wanted}
    if not wanted:
        return out
    rows = conn.execute(
        select(
            SGM.c.group_id,
            SGM.c.consumer_uuid,
            SGM.c.root_provider_id,
            RP.c.uuid,
            RP.c.name,
            SGM.c.created_at,
        )
        .select_from(SGM.outerjoin(RP, RP.c.id == SGM.c.root_provider_id))
        .where(SGM.c.group_id.in_(wanted))
        .order_by(SGM.c.group_id, SGM.c.created_at, SGM.c.consumer_uuid)
    )
    for group_id, consumer, root, host_uuid, host_name, created in rows:
        out[group_id].append(GroupMember(consumer, root, host_uuid, host_name, created))
    return out


def add_members(
    conn: Connection,
    group_uuid: str,
    placements: Sequence[tuple[str, int | None]],
    expected_generation: int,
) -> int:
    """Add (consumer uuid, root provider id) members, moving the group from generation
    ``expected_generation`` to the next; returns the new generation.

    A consumer already in the group moves to the given host (a rebuild or a retry
    elsewhere); within one call the last placement of a consumer wins. 409
    ``placement.concurrent_update`` when the group's generation is no longer
    ``expected_generation`` (someone changed the membership since the caller read it),
    404 for an unknown group, 400 when a root id is not a root provider.
    """
    group = get(conn, group_uuid)
    new_generation = _swap(conn, group, expected_generation)
    _upsert_members(conn, group, placements)
    return new_generation


def lock(conn: Connection, group_uuid: str) -> tuple[ServerGroup, list[tuple[str, int | None]]]:
    """Move the group's generation on (taking its row lock until the transaction ends)
    and read its members (consumer, host root id) under that lock: what a claim checks
    the group's rule against before ``record_members``. Concurrent claims on one group
    queue here; each sees every member committed before it. 404 for an unknown group."""
    return lock_many(conn, [group_uuid])[group_uuid]


def lock_many(
    conn: Connection, group_uuids: Iterable[str]
) -> dict[str, tuple[ServerGroup, list[tuple[str, int | None]]]]:
    """``lock`` for many groups in three statements whatever their number (a batch of
    claims touches one group per anti-affinity request): their rows locked in id order
    (the order every claim follows, so two batches cannot deadlock), their generations
    moved on, their members read under the locks. 404 for a group that does not exist."""
    wanted = sorted(set(group_uuids))
    if not wanted:
        return {}
    rows = conn.execute(_select().where(SG.c.uuid.in_(wanted)).order_by(SG.c.id).with_for_update())
    groups = {g.uuid: g for g in map(_from_row, rows)}
    for uuid in wanted:
        if uuid not in groups:
            raise NotFoundError(f"No server group with uuid {uuid} found")
    ids = sorted(g.id for g in groups.values())
    conn.execute(
        update(SG)
        .where(SG.c.id.in_(ids))
        .values(generation=SG.c.generation + 1, updated_at=tables.now())
    )
    held = members(conn, ids)
    return {
        uuid: (replace(g, generation=g.generation + 1), held[g.id]) for uuid, g in groups.items()
    }


def record_members_many(
    conn: Connection, placed: Sequence[tuple[ServerGroup, Sequence[tuple[str, int]]]]
) -> None:
    """Add new members (consumer uuid, host root id) to groups ``lock_many`` holds, in one
    INSERT: a scheduler's fresh instances, never members already (their consumers were
    created by the same claim). 400 for a root that is not a host."""
    rows = [(g, c, r) for g, members in placed for c, r in members]
    if not rows:
        return
    _check_roots(conn, {r for _, _, r in rows})
    stamp = tables.now()
    try:
        many.insert_rows(
            conn,
            SGM,
            [
                {"group_id": g.id, "consumer_uuid": c, "root_provider_id": r, "created_at": stamp}
                for g, c, r in rows
            ],
        )
    except IntegrityError as exc:
        raise ConcurrentUpdate(
            "A host of a server group was deleted concurrently, or an instance is already "
            "a member. Please retry"
        ) from exc


def record_members(
    conn: Connection, group: ServerGroup, placements: Sequence[tuple[str, int | None]]
) -> None:
    """Add (consumer uuid, root provider id) members to a group ``lock`` holds (as
    ``add_members`` does, without a second generation move)."""
    _upsert_members(conn, group, placements)


def _upsert_members(
    conn: Connection, group: ServerGroup, placements: Sequence[tuple[str, int | None]]
) -> None:
    group_uuid = group.uuid
    placed = dict(placements)
    roots = {r for r in placed.values() if r is not None}
    _check_roots(conn, roots)
    existing: set[str] = set()
    if placed:
        existing.update(
            conn.execute(
                select(SGM.c.consumer_uuid).where(
                    SGM.c.group_id == group.id, SGM.c.consumer_uuid.in_(sorted(placed))
                )
            ).scalars()
        )
    try:
        with conn.begin_nested():
            for consumer in sorted(existing):
                conn.execute(
                    update(SGM)
                    .where(SGM.c.group_id == group.id, SGM.c.consumer_uuid == consumer)
                    .values(root_provider_id=placed[consumer])
                )
            fresh = [c for c in placed if c not in existing]
            if fresh:
                stamp = tables.now()
                conn.execute(
                    insert(SGM),
                    [
                        {
                            "group_id": group.id,
                            "consumer_uuid": c,
                            "root_provider_id": placed[c],
                            "created_at": stamp,
                        }
                        for c in fresh
                    ],
                )
    except IntegrityError as exc:
        # A host deleted between the check and the write: the caller re-reads and retries.
        raise ConcurrentUpdate(
            f"A host of server group {group_uuid} was deleted concurrently. Please retry"
        ) from exc


def remove_member(conn: Connection, group_uuid: str, consumer_uuid: str) -> int:
    """Take a consumer out of a group (bumping the generation); 404 if it is not in it."""
    group = get(conn, group_uuid)
    new_generation = _bump(conn, group)
    gone = conn.execute(
        delete(SGM).where(SGM.c.group_id == group.id, SGM.c.consumer_uuid == consumer_uuid)
    ).rowcount
    if gone == 0:
        raise NotFoundError(
            f"Consumer {consumer_uuid} is not a member of server group {group_uuid}"
        )
    return new_generation


def _swap(conn: Connection, group: ServerGroup, seen: int) -> int:
    """``UPDATE … SET generation = seen + 1 WHERE id = … AND generation = seen``, or 409."""
    conflict = ConcurrentUpdate(_CONFLICT.format(uuid=group.uuid))
    if not 0 <= seen <= _MAX_GENERATION:
        raise conflict
    result = conn.execute(
        update(SG)
        .where(SG.c.id == group.id, SG.c.generation == seen)
        .values(generation=seen + 1, updated_at=tables.now())
    )
    if result.rowcount != 1:
        raise conflict
    return seen + 1


def _bump(conn: Connection, group: ServerGroup) -> int:
    """Move the generation on unconditionally (a removal needs no agreement, but a worker
    that decided against the old membership must still see it changed)."""
    bumped = conn.execute(
        update(SG)
        .where(SG.c.id == group.id)
        .values(generation=SG.c.generation + 1, updated_at=tables.now())
    ).rowcount
    current = conn.execute(select(SG.c.generation).where(SG.c.id == group.id)).scalar()
    if bumped != 1 or current is None:
        raise NotFoundError(f"No server group with uuid {group.uuid} found")
    return int(current)


def _check_roots(conn: Connection, roots: set[int]) -> None:
    if not roots:
        return
    found = set(
        conn.execute(
            select(RP.c.id).where(
                RP.c.id.in_(sorted(roots)),
                (RP.c.root_provider_id == RP.c.id) | RP.c.root_provider_id.is_(None),
            )
        ).scalars()
    )
    missing = sorted(roots - found)
    if missing:
        raise InvalidError(f"Not root resource providers (hosts): {missing}")
