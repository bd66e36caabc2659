"""The inventory store functions other writers build on (the reshaper uses ``replace``)."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from berth.db import inventories, tables, usages
from berth.db.engine import Store
from berth.model.errors import INVENTORY_INUSE, ConflictError, InvalidError
from berth.model.inventory import Inventory, capacity_problem


def _provider(store: Store, name: str = "rp") -> int:
    with store.write() as conn:
        rp = tables.resource_providers
        new_id = conn.execute(
            insert(rp).values(uuid=f"00000000-0000-0000-0000-{name:0>12}", name=name, generation=0)
        ).inserted_primary_key[0]
        assert new_id is not None
        return int(new_id)


def _allocate(store: Store, provider_id: int, rc: str, used: int, consumer: str) -> None:
    with store.write() as conn:
        rc_id = conn.execute(
            select(tables.resource_classes.c.id).where(tables.resource_classes.c.name == rc)
        ).scalar_one()
        conn.execute(
            insert(tables.consumers).values(
                uuid=consumer, project_id="p", user_id="u", generation=0
            )
        )
        conn.execute(
            insert(tables.allocations).values(
                resource_provider_id=provider_id,
                consumer_id=consumer,
                resource_class_id=rc_id,
                used=used,
            )
        )


def test_capacity() -> None:
    assert Inventory(total=10, reserved=2, allocation_ratio=1.5).capacity == 12
    assert Inventory(total=10).max_unit == 2147483647


def test_capacity_problem_wording() -> None:
    inv = Inventory(total=5, reserved=5)
    assert capacity_problem("VCPU", "u", inv, reserved_may_equal_total=True) is None
    problem = capacity_problem("VCPU", "u", inv, reserved_may_equal_total=False)
    assert problem is not None
    assert "greater than or equal to total" in problem


def test_replace_inserts_updates_and_deletes(store: Store) -> None:
    rp = _provider(store)
    with store.write() as conn:
        inventories.replace(conn, rp, {"VCPU": Inventory(8), "DISK_GB": Inventory(100)})
    with store.write() as conn:
        inventories.replace(
            conn, rp, {"VCPU": Inventory(16, allocation_ratio=2.0), "MEMORY_MB": Inventory(64)}
        )
    with store.read() as conn:
        got = inventories.get_all(conn, rp)
        assert got == {"VCPU": Inventory(16, allocation_ratio=2.0), "MEMORY_MB": Inventory(64)}
        assert list(got) == ["VCPU", "MEMORY_MB"]  # class-id order
        assert inventories.last_modified(conn, rp) is not None
        # replace never touches the generation: the caller owns the compare-and-swap.
        rps = tables.resource_providers
        gen = conn.execute(select(rps.c.generation).where(rps.c.id == rp)).scalar_one()
        assert gen == 0


def test_replace_unknown_class_is_invalid(store: Store) -> None:
    rp = _provider(store)
    with pytest.raises(InvalidError, match="HOUSE"), store.write() as conn:
        inventories.replace(conn, rp, {"HOUSE": Inventory(1)})


def test_replace_refuses_removing_allocated_class(store: Store) -> None:
    rp = _provider(store)
    with store.write() as conn:
        inventories.replace(conn, rp, {"VCPU": Inventory(8), "DISK_GB": Inventory(100)})
    _allocate(store, rp, "DISK_GB", 10, "11111111-1111-1111-1111-111111111111")
    with pytest.raises(ConflictError) as err, store.write() as conn:
        inventories.replace(conn, rp, {"VCPU": Inventory(8)})
    assert err.value.code == INVENTORY_INUSE
    assert "'DISK_GB'" in err.value.message
    # The reshaper moves allocations itself and skips the check.
    with store.write() as conn:
        inventories.replace(conn, rp, {"VCPU": Inventory(8)}, check_in_use=False)
        assert set(inventories.get_all(conn, rp)) == {"VCPU"}


def test_usage_by_class_and_provider_usages(store: Store) -> None:
    rp1 = _provider(store, "one")
    rp2 = _provider(store, "two")
    with store.write() as conn:
        inventories.replace(conn, rp1, {"VCPU": Inventory(8), "DISK_GB": Inventory(100)})
        inventories.replace(conn, rp2, {"VCPU": Inventory(8)})
    _allocate(store, rp1, "VCPU", 3, "22222222-2222-2222-2222-222222222222")
    _allocate(store, rp2, "VCPU", 1, "33333333-3333-3333-3333-333333333333")
    with store.read() as conn:
        assert usages.usage_by_class(conn, [rp1, rp2]) == {rp1: {"VCPU": 3}, rp2: {"VCPU": 1}}
        assert usages.provider_usages(conn, rp1) == {"VCPU": 3, "DISK_GB": 0}
        assert usages.project_usages(conn, "p") == {"VCPU": 4}
        typed = usages.project_usages_by_type(conn, "p", consumer_type="all")
        assert typed["all"].consumer_count == 2


def test_add_update_delete_one(store: Store) -> None:
    rp = _provider(store)
    with store.write() as conn:
        inventories.add(conn, rp, "VCPU", Inventory(4))
        with pytest.raises(ConflictError):
            inventories.add(conn, rp, "VCPU", Inventory(4))
        inventories.update_one(conn, rp, "VCPU", Inventory(6))
        with pytest.raises(InvalidError):
            inventories.update_one(conn, rp, "DISK_GB", Inventory(6))
        assert inventories.get_all(conn, rp) == {"VCPU": Inventory(6)}
        inventories.delete_one(conn, rp, "VCPU")
        assert inventories.get_all(conn, rp) == {}
