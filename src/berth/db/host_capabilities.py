"""Host capabilities: one versioned JSON document per compute host (root provider).

What a host registers here (``berth.model.capabilities``) is read only by the scheduler's
ComputeCapabilitiesFilter and ImagePropertiesFilter, loaded per decision for the
candidate hosts (``capabilities_by_root``). Placement clients never see it and the
resident index does not read it, so nothing here touches providers, inventories or the
change log: a write is one row.

The document has its own ``generation`` (0 = none stored yet) for clients that want
compare-and-swap; a PUT of an unchanged document keeps it, so a compute service that
re-reports every minute changes nothing. The row is locked before it is compared, so
concurrent writers of one host queue; two first writes racing to insert are told apart
by the primary key, and the loser runs again (``save``) and then sees the winner's row.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.db import providers, tables
from berth.db.engine import Store
from berth.model.capabilities import (
    HostCapabilities,
    capabilities_from_json,
    capabilities_to_json,
)
from berth.model.errors import (
    ConcurrentUpdate,
    InvalidError,
    NotFoundError,
    RetryableConflict,
)
from berth.model.provider import Provider

HC = tables.host_capabilities
FORMAT = 1
_CHUNK = 500
_CONFLICT = (
    "capabilities generation conflict: another request changed the host's capabilities. "
    "Please re-read them and retry"
)


@dataclass(frozen=True, slots=True)
class StoredCapabilities:
    """A host's stored capabilities with the host's identity and the document's generation."""

    root_id: int
    root_uuid: str
    root_name: str
    capabilities: HostCapabilities
    generation: int
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Row:
    capabilities: HostCapabilities
    generation: int
    text: str
    updated_at: datetime | None


def _encode(caps: HostCapabilities) -> str:
    doc = {"format": FORMAT, "capabilities": capabilities_to_json(caps)}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def _decode(text: str) -> HostCapabilities:
    doc = json.loads(text)
    if doc.get("format") != FORMAT:
        raise ValueError(f"unknown capabilities document format {doc.get('format')!r}")
    return capabilities_from_json(doc["capabilities"])


def _root(conn: Connection, root_uuid: str) -> Provider:
    """The host's provider: 404 when unknown, 400 when it is not the root of its tree."""
    root = providers.get(conn, root_uuid)
    if root.parent_uuid is not None:
        raise InvalidError(
            f"Resource provider {root_uuid} is not a host: capabilities describe a compute "
            f"host, whose provider is the root of its tree ({root.root_uuid})"
        )
    return root


def _row(conn: Connection, root_id: int, *, lock: bool = False) -> _Row | None:
    query = select(HC.c.document, HC.c.generation, HC.c.updated_at).where(
        HC.c.root_provider_id == root_id
    )
    if lock:
        query = query.with_for_update()
    found = conn.execute(query).first()
    if found is None:
        return None
    return _Row(_decode(found.document), int(found.generation), found.document, found.updated_at)


def read(conn: Connection, root_uuid: str) -> StoredCapabilities | None:
    """Host ``root_uuid``'s capabilities, None when it registered none (404: no provider)."""
    root = _root(conn, root_uuid)
    row = _row(conn, root.id)
    if row is None:
        return None
    return StoredCapabilities(
        root.id, root.uuid, root.name, row.capabilities, row.generation, row.updated_at
    )


def capabilities_by_root(conn: Connection, root_ids: Iterable[int]) -> dict[int, HostCapabilities]:
    """The capabilities of many hosts by root provider id (hosts without any absent)."""
    wanted = sorted(set(root_ids))
    out: dict[int, HostCapabilities] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = conn.execute(
            select(HC.c.root_provider_id, HC.c.document).where(HC.c.root_provider_id.in_(chunk))
        )
        for root_id, text in rows:
            out[int(root_id)] = _decode(text)
    return out


def put(
    conn: Connection,
    root_uuid: str,
    caps: HostCapabilities,
    *,
    expected_generation: int | None = None,
) -> int:
    """Store host ``root_uuid``'s capabilities (replacing what it had); the new generation.

    ``expected_generation`` (None: no check; 0: none may be stored yet) guards the
    document: a mismatch is a 409 ``placement.concurrent_update``.
    """
    root = _root(conn, root_uuid)
    row = _row(conn, root.id, lock=True)
    have = 0 if row is None else row.generation
    if expected_generation is not None and expected_generation != have:
        raise ConcurrentUpdate(
            f"capabilities generation conflict - expected {expected_generation} but the "
            f"host's capabilities are at generation {have}. Please re-read them and retry"
        )
    text = _encode(caps)
    stamp = tables.now()
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(HC).values(
                        root_provider_id=root.id,
                        document=text,
                        generation=1,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
        except IntegrityError as exc:
            # A concurrent first PUT for this host won (or the provider was just deleted:
            # the retry then answers 404).
            if expected_generation is not None:
                raise ConcurrentUpdate(_CONFLICT) from exc
            raise RetryableConflict(_CONFLICT) from exc
        return 1
    if row.text == text:
        return row.generation
    changed = conn.execute(
        update(HC)
        .where(HC.c.root_provider_id == root.id, HC.c.generation == row.generation)
        .values(document=text, generation=row.generation + 1, updated_at=stamp)
    ).rowcount
    if changed != 1:
        raise ConcurrentUpdate(_CONFLICT)
    return row.generation + 1


def save(
    store: Store,
    root_uuid: str,
    caps: HostCapabilities,
    *,
    expected_generation: int | None = None,
    attempts: int = 4,
) -> StoredCapabilities:
    """``put`` in a transaction of its own, run again after a race the client did not
    take part in (two first writes); answers what was stored."""
    for attempt in range(attempts):
        try:
            with store.write() as conn:
                put(conn, root_uuid, caps, expected_generation=expected_generation)
                stored = read(conn, root_uuid)
            assert stored is not None
            return stored
        except RetryableConflict:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.002 * (2**attempt)))
    raise AssertionError("unreachable")  # pragma: no cover


def delete_capabilities(conn: Connection, root_uuid: str) -> None:
    """Forget host ``root_uuid``'s capabilities; 404 when it has none."""
    root = _root(conn, root_uuid)
    gone = conn.execute(delete(HC).where(HC.c.root_provider_id == root.id)).rowcount
    if not gone:
        raise NotFoundError(f"No capabilities for resource provider {root_uuid}")
