"""The provider store: tree bookkeeping and delete cascades, on every engine, with rows
written directly where other resources are needed. (GET /resource_providers filtering is
answered from the resident index: tests/query/test_providers.py.)"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import Connection, func, insert, select

from berth.db import aggregates, providers, tables
from berth.db.engine import Store
from berth.model.errors import ConflictError, InvalidError, NotFoundError
from berth.model.provider import Provider


def _make(conn: Connection, name: str, parent: Provider | None = None) -> Provider:
    return providers.create(
        conn, uuid=str(uuid.uuid4()), name=name, parent_uuid=parent.uuid if parent else None
    )


def _class_id(conn: Connection, name: str) -> int:
    rc = tables.resource_classes
    return conn.execute(select(rc.c.id).where(rc.c.name == name)).scalar_one()


def _inventory(conn: Connection, p: Provider, rc: str, total: int, **extra: object) -> None:
    values = {
        "resource_provider_id": p.id,
        "resource_class_id": _class_id(conn, rc),
        "total": total,
        "reserved": 0,
        "min_unit": 1,
        "max_unit": total,
        "step_size": 1,
        "allocation_ratio": 1.0,
        **extra,
    }
    conn.execute(insert(tables.inventories).values(**values))


def _allocate(conn: Connection, p: Provider, rc: str, used: int) -> None:
    conn.execute(
        insert(tables.allocations).values(
            resource_provider_id=p.id,
            consumer_id=str(uuid.uuid4()),
            resource_class_id=_class_id(conn, rc),
            used=used,
        )
    )


def test_root_points_at_itself_and_children_at_root(store: Store) -> None:
    with store.write() as conn:
        root = _make(conn, "root")
        child = _make(conn, "child", root)
        grandchild = _make(conn, "grandchild", child)
    assert root.root_uuid == root.uuid and root.parent_uuid is None
    assert child.parent_uuid == root.uuid and child.root_uuid == root.uuid
    assert grandchild.root_uuid == root.uuid


def test_moving_a_subtree_rewrites_every_root(store: Store) -> None:
    with store.write() as conn:
        a = _make(conn, "a")
        b = _make(conn, "b", a)
        c = _make(conn, "c", b)
        other = _make(conn, "other")
    with store.write() as conn:
        providers.update_provider(
            conn, b.uuid, name="b", set_parent=True, parent_uuid=other.uuid, allow_reparenting=True
        )
    with store.read() as conn:
        assert providers.get(conn, c.uuid).root_uuid == other.uuid
        assert providers.get(conn, b.uuid).root_uuid == other.uuid
        assert providers.get(conn, a.uuid).root_uuid == a.uuid


def test_loops_and_old_microversion_moves_are_refused(store: Store) -> None:
    with store.write() as conn:
        a = _make(conn, "a")
        b = _make(conn, "b", a)
        c = _make(conn, "c", b)
    for target in (a, c):
        with pytest.raises(InvalidError, match="creating loop"), store.write() as conn:
            providers.update_provider(
                conn,
                a.uuid,
                name="a",
                set_parent=True,
                parent_uuid=target.uuid,
                allow_reparenting=True,
            )
    with pytest.raises(InvalidError, match="re-parenting"), store.write() as conn:
        providers.update_provider(conn, c.uuid, name="c", set_parent=True, parent_uuid=a.uuid)
    with pytest.raises(InvalidError, match="un-parenting"), store.write() as conn:
        providers.update_provider(conn, c.uuid, name="c", set_parent=True, parent_uuid=None)
    with store.read() as conn:
        assert providers.get(conn, c.uuid).parent_uuid == b.uuid


def test_delete_removes_links_and_refuses_while_used(store: Store) -> None:
    with store.write() as conn:
        p = _make(conn, "p")
        child = _make(conn, "child", p)
        _inventory(conn, child, "VCPU", 8)
        aggregates.set_for_provider(conn, child.id, [str(uuid.uuid4())])
        trait_id = conn.execute(select(tables.traits.c.id).limit(1)).scalar_one()
        conn.execute(
            insert(tables.resource_provider_traits).values(
                resource_provider_id=child.id, trait_id=trait_id
            )
        )
    with pytest.raises(ConflictError) as info, store.write() as conn:
        providers.delete_provider(conn, p.uuid)
    assert info.value.code == "placement.resource_provider.cannot_delete_parent"
    with store.write() as conn:
        _allocate(conn, child, "VCPU", 1)
    with pytest.raises(ConflictError) as info, store.write() as conn:
        providers.delete_provider(conn, child.uuid)
    assert info.value.code == "placement.resource_provider.inuse"
    with store.write() as conn:
        conn.execute(tables.allocations.delete())
    with store.write() as conn:
        providers.delete_provider(conn, child.uuid)
        providers.delete_provider(conn, p.uuid)
    with store.read() as conn:
        for table in (
            tables.inventories,
            tables.resource_provider_traits,
            tables.resource_provider_aggregates,
            tables.resource_providers,
        ):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
    with pytest.raises(NotFoundError), store.write() as conn:
        providers.delete_provider(conn, p.uuid)


def test_failed_delete_leaves_everything(store: Store) -> None:
    with store.write() as conn:
        p = _make(conn, "p")
        _inventory(conn, p, "VCPU", 8)
        _allocate(conn, p, "VCPU", 2)
    with pytest.raises(ConflictError), store.write() as conn:
        providers.delete_provider(conn, p.uuid)
    with store.read() as conn:
        assert providers.get(conn, p.uuid).generation == 0
        assert conn.execute(select(func.count()).select_from(tables.inventories)).scalar_one() == 1


def test_aggregate_membership_is_exactly_the_given_set(store: Store) -> None:
    agg1, agg2 = str(uuid.uuid4()), str(uuid.uuid4())
    with store.write() as conn:
        p = _make(conn, "p")
        q = _make(conn, "q")
        aggregates.set_for_provider(conn, p.id, [agg1, agg2])
        aggregates.set_for_provider(conn, q.id, [agg2])
        aggregates.set_for_provider(conn, p.id, [agg2])
    with store.read() as conn:
        assert aggregates.for_provider(conn, p.id) == [agg2]
        assert aggregates.for_provider(conn, q.id) == [agg2]


def test_concurrent_moves_cannot_build_a_loop(store: Store) -> None:
    """A under B and B under A at the same time: one wins, the other is refused."""
    with store.write() as conn:
        a = _make(conn, "a")
        b = _make(conn, "b")
    outcome: list[BaseException | None] = []

    def move_b_under_a() -> None:
        try:
            with store.write() as conn:
                providers.update_provider(
                    conn,
                    b.uuid,
                    name="b",
                    set_parent=True,
                    parent_uuid=a.uuid,
                    allow_reparenting=True,
                )
            outcome.append(None)
        except (ConflictError, InvalidError) as exc:
            outcome.append(exc)

    with store.write() as conn:
        providers.update_provider(
            conn, a.uuid, name="a", set_parent=True, parent_uuid=b.uuid, allow_reparenting=True
        )
        other = threading.Thread(target=move_b_under_a)
        other.start()
        time.sleep(0.5)  # let the other writer reach its lock wait
    other.join(timeout=30)
    assert len(outcome) == 1 and outcome[0] is not None
    with store.read() as conn:
        assert providers.get(conn, a.uuid).root_uuid == b.uuid
        assert providers.get(conn, b.uuid).parent_uuid is None
