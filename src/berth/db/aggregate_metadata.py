"""Nova's side of an aggregate: its name and metadata (availability zone, tenant isolation,
keys matched against flavor extra specs), attached to Placement's aggregate uuid.

Placement aggregates are bare uuids that exist while some provider names them; Nova's
aggregates have a name and metadata. A uuid may be described here before any provider is
in it (an operator sets up the zone, then adds hosts), so ``set_metadata`` interns the uuid
in ``placement_aggregates`` exactly as a provider's first membership would. Interned rows
are never removed (see ``berth.db.aggregates``), so the description outlives a moment with
no members.

The name lives in its own row (``berth_aggregates``), not as a reserved metadata key: the
filters match metadata keys against flavor extra specs, where a "name" key would leak in,
and Nova's names are unique across aggregates, which a constraint on one column states.
That row is also what concurrent writers of one aggregate line up on: every writer
touches it before the metadata rows.

The resident index does not read aggregate metadata, so nothing here writes the change log
(membership itself is ``berth.db.aggregates``'s, which does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.db import aggregates, tables
from berth.model.errors import DUPLICATE_NAME, ConcurrentUpdate, ConflictError, NotFoundError

AGG = tables.placement_aggregates
RPA = tables.resource_provider_aggregates
NAMES = tables.aggregate_names
META = tables.aggregate_metadata

# Root ids per IN (...) list: well under every engine's bound-parameter limit.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class AggregateMetadata:
    """An aggregate's name and its whole metadata map."""

    uuid: str
    name: str
    metadata: dict[str, str]
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def last_modified(self) -> datetime | None:
        return self.updated_at or self.created_at


def get(conn: Connection, aggregate_uuid: str) -> AggregateMetadata:
    """The aggregate's name and metadata; 404 when none was ever set (or it was deleted)."""
    row = conn.execute(
        select(NAMES.c.aggregate_id, NAMES.c.name, NAMES.c.created_at, NAMES.c.updated_at)
        .select_from(NAMES.join(AGG, AGG.c.id == NAMES.c.aggregate_id))
        .where(AGG.c.uuid == aggregate_uuid)
    ).first()
    if row is None:
        raise NotFoundError(f"No metadata for aggregate {aggregate_uuid} found")
    pairs = conn.execute(
        select(META.c.key, META.c.value)
        .where(META.c.aggregate_id == row.aggregate_id)
        .order_by(META.c.key)
    )
    described = {str(key): str(value) for key, value in pairs}
    return AggregateMetadata(aggregate_uuid, row.name, described, row.created_at, row.updated_at)


def set_metadata(
    conn: Connection, aggregate_uuid: str, name: str, metadata: Mapping[str, str]
) -> AggregateMetadata:
    """Give the aggregate ``name`` and exactly ``metadata`` (replacing what it had).

    409 ``placement.duplicate_name`` when another aggregate has that name.
    """
    agg_id = _intern(conn, aggregate_uuid)
    _refuse_taken_name(conn, agg_id, name)
    stamp = tables.now()
    try:
        with conn.begin_nested():
            # The UPDATE takes the row lock that serializes writers of this aggregate.
            renamed = conn.execute(
                update(NAMES)
                .where(NAMES.c.aggregate_id == agg_id)
                .values(name=name, updated_at=stamp)
            ).rowcount
            if renamed == 0:
                conn.execute(
                    insert(NAMES).values(
                        aggregate_id=agg_id, name=name, created_at=stamp, updated_at=stamp
                    )
                )
    except IntegrityError as exc:
        _refuse_taken_name(conn, agg_id, name)
        raise ConcurrentUpdate(
            f"Another request concurrently described aggregate {aggregate_uuid}. Please retry"
        ) from exc
    conn.execute(delete(META).where(META.c.aggregate_id == agg_id))
    if metadata:
        conn.execute(
            insert(META),
            [{"aggregate_id": agg_id, "key": k, "value": v} for k, v in sorted(metadata.items())],
        )
    return get(conn, aggregate_uuid)


def delete_metadata(conn: Connection, aggregate_uuid: str) -> None:
    """Forget the aggregate's name and metadata (its provider memberships stay); 404 when
    there is nothing to forget."""
    agg_id = aggregates.ids_by_uuid(conn, [aggregate_uuid]).get(aggregate_uuid)
    gone = 0
    if agg_id is not None:
        gone = conn.execute(delete(NAMES).where(NAMES.c.aggregate_id == agg_id)).rowcount
    if not gone:
        raise NotFoundError(f"No metadata for aggregate {aggregate_uuid} found")
    conn.execute(delete(META).where(META.c.aggregate_id == agg_id))


def metadata_by_root(
    conn: Connection, root_ids: Iterable[int]
) -> dict[int, dict[str, dict[str, str]]]:
    """For each root provider (host): aggregate uuid -> that aggregate's metadata.

    A host's aggregates are its root provider's own memberships, as in Nova (a compute
    node is the root of its tree). Every requested root is a key; every aggregate it is in
    appears, with ``{}`` when nothing describes it.
    """
    wanted = sorted(set(root_ids))
    out: dict[int, dict[str, dict[str, str]]] = {r: {} for r in wanted}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = conn.execute(
            select(RPA.c.resource_provider_id, AGG.c.uuid, META.c.key, META.c.value)
            .select_from(
                RPA.join(AGG, AGG.c.id == RPA.c.aggregate_id).outerjoin(
                    META, META.c.aggregate_id == AGG.c.id
                )
            )
            .where(RPA.c.resource_provider_id.in_(chunk))
        )
        for root, agg_uuid, key, value in rows:
            described = out[root].setdefault(agg_uuid, {})
            if key is not None:
                described[key] = value
    return out


def described(conn: Connection) -> dict[str, dict[str, str]]:
    """Every aggregate with metadata: uuid -> key -> value. A cloud describes a handful
    of aggregates, so this is one small query however many hosts there are; the
    scheduler maps it onto hosts through the resident index's memberships."""
    out: dict[str, dict[str, str]] = {}
    rows = conn.execute(
        select(AGG.c.uuid, META.c.key, META.c.value).select_from(
            META.join(AGG, AGG.c.id == META.c.aggregate_id)
        )
    )
    for agg_uuid, key, value in rows:
        out.setdefault(agg_uuid, {})[key] = value
    return out


def _intern(conn: Connection, aggregate_uuid: str) -> int:
    """The aggregate's id, creating the ``placement_aggregates`` row if nobody named it yet
    (a concurrent creator wins inside a savepoint and its id is read back)."""
    known = aggregates.ids_by_uuid(conn, [aggregate_uuid])
    if aggregate_uuid in known:
        return known[aggregate_uuid]
    try:
        with conn.begin_nested():
            key = conn.execute(insert(AGG).values(uuid=aggregate_uuid)).inserted_primary_key
        assert key is not None
        return int(key[0])
    except IntegrityError:
        return aggregates.ids_by_uuid(conn, [aggregate_uuid])[aggregate_uuid]


def _refuse_taken_name(conn: Connection, agg_id: int, name: str) -> None:
    other = conn.execute(
        select(AGG.c.uuid)
        .select_from(NAMES.join(AGG, AGG.c.id == NAMES.c.aggregate_id))
        .where(NAMES.c.name == name, NAMES.c.aggregate_id != agg_id)
    ).first()
    if other is not None:
        raise ConflictError(
            f"Aggregate name {name!r} is already used by aggregate {other.uuid}",
            code=DUPLICATE_NAME,
        )
