"""Aggregate names and metadata in the store, and the per-host view the filters read,
on every engine."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import Connection, select

from berth.db import aggregate_metadata, aggregates, providers, tables
from berth.db.engine import Store
from berth.model.errors import DUPLICATE_NAME, ConflictError, NotFoundError
from berth.model.provider import Provider

AZ1 = "2f6ba1b4-6a43-4f5b-9d3e-6a0b8d7c5e41"
AZ2 = "9c1d3e5f-7a8b-4c2d-8e6f-1a2b3c4d5e6f"
TENANT = "5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"


def _host(conn: Connection, name: str, parent: Provider | None = None) -> Provider:
    return providers.create(
        conn, uuid=str(uuid.uuid4()), name=name, parent_uuid=parent.uuid if parent else None
    )


def test_set_get_replace_delete(store: Store) -> None:
    with store.write() as conn:
        made = aggregate_metadata.set_metadata(
            conn, AZ1, "rack-1", {"availability_zone": "az1", "ssd": "true"}
        )
    assert made.name == "rack-1"
    assert made.metadata == {"availability_zone": "az1", "ssd": "true"}
    assert made.created_at is not None
    with store.write() as conn:
        aggregate_metadata.set_metadata(conn, AZ1, "rack-one", {"ssd": "false", "gpu": ""})
    with store.read() as conn:
        got = aggregate_metadata.get(conn, AZ1)
    assert (got.uuid, got.name, got.metadata) == (AZ1, "rack-one", {"gpu": "", "ssd": "false"})
    with store.write() as conn:
        aggregate_metadata.delete_metadata(conn, AZ1)
    with pytest.raises(NotFoundError), store.read() as conn:
        aggregate_metadata.get(conn, AZ1)
    with pytest.raises(NotFoundError), store.write() as conn:
        aggregate_metadata.delete_metadata(conn, AZ1)
    with store.read() as conn:
        rows = conn.execute(select(tables.aggregate_metadata.c.key)).all()
        assert rows == []
        # The uuid stays interned, as Placement's aggregates always do.
        assert AZ1 in aggregates.ids_by_uuid(conn, [AZ1])


def test_unknown_aggregate_is_404_until_described(store: Store) -> None:
    with pytest.raises(NotFoundError), store.read() as conn:
        aggregate_metadata.get(conn, AZ2)
    with pytest.raises(NotFoundError), store.write() as conn:
        aggregate_metadata.delete_metadata(conn, AZ2)
    with store.write() as conn:
        # No provider is in AZ2: describing it is allowed all the same.
        aggregate_metadata.set_metadata(conn, AZ2, "empty", {})
    with store.read() as conn:
        assert aggregate_metadata.get(conn, AZ2).metadata == {}


def test_names_are_unique_across_aggregates(store: Store) -> None:
    with store.write() as conn:
        aggregate_metadata.set_metadata(conn, AZ1, "rack", {"k": "v"})
    with pytest.raises(ConflictError) as info, store.write() as conn:
        aggregate_metadata.set_metadata(conn, AZ2, "rack", {})
    assert info.value.code == DUPLICATE_NAME
    with store.write() as conn:
        # Renaming an aggregate to its own name is fine.
        aggregate_metadata.set_metadata(conn, AZ1, "rack", {})
    with pytest.raises(NotFoundError), store.read() as conn:
        aggregate_metadata.get(conn, AZ2)


def test_metadata_by_root_follows_root_membership(store: Store) -> None:
    with store.write() as conn:
        cn1, cn2, lonely = _host(conn, "cn1"), _host(conn, "cn2"), _host(conn, "lonely")
        numa = _host(conn, "cn2-numa0", cn2)
        aggregates.set_for_provider(conn, cn1.id, [AZ1, TENANT])
        aggregates.set_for_provider(conn, cn2.id, [AZ2])
        # A child's own membership is not its host's.
        aggregates.set_for_provider(conn, numa.id, [AZ1])
        aggregate_metadata.set_metadata(conn, AZ1, "az-one", {"availability_zone": "az1"})
        aggregate_metadata.set_metadata(
            conn, AZ2, "az-two", {"availability_zone": "az2", "filter_tenant_id": "t1,t2"}
        )
    with store.read() as conn:
        found = aggregate_metadata.metadata_by_root(conn, [cn1.id, cn2.id, lonely.id, cn1.id])
    assert found == {
        cn1.id: {AZ1: {"availability_zone": "az1"}, TENANT: {}},
        cn2.id: {AZ2: {"availability_zone": "az2", "filter_tenant_id": "t1,t2"}},
        lonely.id: {},
    }
    with store.read() as conn:
        assert aggregate_metadata.metadata_by_root(conn, []) == {}


def test_many_roots_are_chunked(store: Store) -> None:
    with store.write() as conn:
        host = _host(conn, "cn")
        aggregates.set_for_provider(conn, host.id, [AZ1])
        aggregate_metadata.set_metadata(conn, AZ1, "az", {"k": "v"})
    wanted = [host.id, *range(10_000_000, 10_001_200)]
    with store.read() as conn:
        found = aggregate_metadata.metadata_by_root(conn, wanted)
    assert len(found) == len(wanted)
    assert found[host.id] == {AZ1: {"k": "v"}}


def test_concurrent_writers_of_one_aggregate_never_collide(store: Store) -> None:
    """Replacing the map is delete-then-insert: writers line up on the name row first, so
    two PUTs of overlapping keys at once both succeed and the last one wins whole."""
    with store.write() as conn:
        aggregate_metadata.set_metadata(conn, AZ1, "az", {"a": "0"})
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def put(i: int) -> None:
        try:
            start.wait(timeout=60)
            with store.write() as conn:
                aggregate_metadata.set_metadata(conn, AZ1, "az", {"a": str(i), f"k{i}": "x"})
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with store.read() as conn:
        final = aggregate_metadata.get(conn, AZ1).metadata
    winner = final["a"]
    assert final == {"a": winner, f"k{winner}": "x"}
