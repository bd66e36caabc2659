"""Consumers: the owners of allocations (an instance, a migration, ...).

A consumer row exists exactly while the consumer holds allocations: it is created by the
write that gives it its first allocation and removed by the one that takes away its last
(so a client that failed, or released everything, starts again with generation null).
Its ``generation`` is the compare-and-swap counter for the consumer's allocation set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, insert, select
from sqlalchemy.exc import IntegrityError

from berth.db import many, tables
from berth.model.allocation import Consumer
from berth.model.errors import ConcurrentUpdate

C = tables.consumers
CT = tables.consumer_types
_INSERT = insert(C)


def _select() -> Select[Any]:
    return select(
        C.c.id,
        C.c.uuid,
        C.c.project_id,
        C.c.user_id,
        C.c.generation,
        CT.c.name.label("consumer_type"),
    ).select_from(C.outerjoin(CT, C.c.consumer_type_id == CT.c.id))


def _from_row(row: Row[tuple[object, ...]]) -> Consumer:
    m = row._mapping
    return Consumer(
        id=int(m["id"]),
        uuid=str(m["uuid"]),
        project_id=str(m["project_id"]),
        user_id=str(m["user_id"]),
        generation=int(m["generation"]),
        consumer_type=None if m["consumer_type"] is None else str(m["consumer_type"]),
    )


def get(conn: Connection, uuid: str) -> Consumer | None:
    row = conn.execute(_select().where(C.c.uuid == uuid)).first()
    return None if row is None else _from_row(row)


def get_many(conn: Connection, uuids: list[str]) -> dict[str, Consumer]:
    if not uuids:
        return {}
    rows = conn.execute(_select().where(C.c.uuid.in_(uuids))).all()
    return {c.uuid: c for c in (_from_row(r) for r in rows)}


def _new_row(
    uuid: str, project_id: str, user_id: str, type_id: int | None, now: datetime
) -> dict[str, object]:
    """A consumer row as the write that gives it its first allocations inserts it."""
    return {
        "uuid": uuid,
        "project_id": project_id,
        "user_id": user_id,
        "generation": 1,
        "consumer_type_id": type_id,
        "created_at": now,
    }


def create(
    conn: Connection, uuid: str, project_id: str, user_id: str, type_id: int | None
) -> Consumer:
    """Insert a consumer at generation 1: it is created by the write that gives it its
    first allocations, and that write moves it on from 0 like any other.

    A concurrent creator of the same uuid wins: ConcurrentUpdate (409). The caller's
    transaction must end there (it may be unusable after the failed INSERT), as every
    allocation write does on a 409."""
    try:
        result = conn.execute(_INSERT, _new_row(uuid, project_id, user_id, type_id, tables.now()))
    except IntegrityError as exc:
        raise ConcurrentUpdate(
            f"consumer generation conflict - another request created consumer {uuid} "
            "concurrently. Please retry your update"
        ) from exc
    key = result.inserted_primary_key
    assert key is not None
    return Consumer(int(key[0]), uuid, project_id, user_id, 1, None)


def create_many(conn: Connection, rows: list[tuple[str, str, str, int | None]]) -> None:
    """``create`` for many consumers ``(uuid, project_id, user_id, type_id)`` in one
    statement (a scheduler claiming 100 instances at once creates 100 consumers)."""
    if len(rows) == 1:
        create(conn, *rows[0])
        return
    now = tables.now()
    try:
        many.insert_rows(conn, C, [_new_row(*row, now) for row in rows])
    except IntegrityError as exc:
        raise ConcurrentUpdate(
            "consumer generation conflict - another request created one of the consumers "
            f"{', '.join(r[0] for r in rows)} concurrently. Please retry your update"
        ) from exc


def delete_by_uuid(conn: Connection, uuid: str) -> bool:
    """Remove the consumer row (taking its row lock first, so racing writers see it gone)."""
    return conn.execute(delete(C).where(C.c.uuid == uuid)).rowcount > 0


def delete_ids(conn: Connection, ids: list[int]) -> None:
    if ids:
        conn.execute(delete(C).where(C.c.id.in_(ids)))
