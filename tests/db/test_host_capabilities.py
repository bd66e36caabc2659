"""Host capabilities in the store, on every engine: generations, replace, delete, races."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import Connection, func, select

from berth.db import host_capabilities as db
from berth.db import providers, tables
from berth.db.engine import Store
from berth.model.capabilities import HostCapabilities
from berth.model.errors import ConcurrentUpdate, InvalidError, NotFoundError
from berth.model.provider import Provider

KVM = HostCapabilities(
    hypervisor_type="QEMU",
    hypervisor_version=8002000,
    cpu_info={"vendor": "Intel", "features": ["avx2"]},
    supported_instances=(("x86_64", "kvm", "hvm"),),
    stats={"rack": "r1"},
)


def _host(conn: Connection, name: str, parent: str | None = None) -> Provider:
    return providers.create(conn, uuid=str(uuid.uuid4()), name=name, parent_uuid=parent)


def _rows(store: Store) -> int:
    with store.read() as conn:
        query = select(func.count()).select_from(tables.host_capabilities)
        return int(conn.execute(query).scalar_one())


def test_save_read_replace_and_generations(store: Store) -> None:
    with store.write() as conn:
        host = _host(conn, "cn1")
        assert db.read(conn, host.uuid) is None
    first = db.save(store, host.uuid, KVM)
    assert (first.generation, first.root_name, first.capabilities) == (1, "cn1", KVM)
    assert first.updated_at is not None
    # The same document again changes nothing, not even the generation.
    assert db.save(store, host.uuid, KVM).generation == 1
    newer = HostCapabilities(hypervisor_type="QEMU", hypervisor_version=9000000)
    second = db.save(store, host.uuid, newer, expected_generation=1)
    assert (second.generation, second.capabilities) == (2, newer)
    with store.read() as conn:
        assert db.capabilities_by_root(conn, [host.id, 424242]) == {host.id: newer}
        assert db.capabilities_by_root(conn, []) == {}


def test_expected_generation_is_compared(store: Store) -> None:
    with store.write() as conn:
        host = _host(conn, "cn1")
    with pytest.raises(ConcurrentUpdate, match="expected 3"):
        db.save(store, host.uuid, KVM, expected_generation=3)
    assert db.save(store, host.uuid, KVM, expected_generation=0).generation == 1
    with pytest.raises(ConcurrentUpdate, match="at generation 1"):
        db.save(store, host.uuid, HostCapabilities(), expected_generation=0)
    with store.read() as conn:
        stored = db.read(conn, host.uuid)
    assert stored is not None and stored.capabilities == KVM


def test_unknown_and_non_root_providers(store: Store) -> None:
    with store.write() as conn:
        root = _host(conn, "cn1")
        child = _host(conn, "cn1-numa0", root.uuid)
    with pytest.raises(NotFoundError):
        db.save(store, str(uuid.uuid4()), KVM)
    with pytest.raises(InvalidError, match="not a host"):
        db.save(store, child.uuid, KVM)
    with pytest.raises(NotFoundError, match="No capabilities"), store.write() as conn:
        db.delete_capabilities(conn, root.uuid)
    assert _rows(store) == 0


def test_delete_and_provider_cascade(store: Store) -> None:
    with store.write() as conn:
        a, b = _host(conn, "a"), _host(conn, "b")
    db.save(store, a.uuid, KVM)
    db.save(store, b.uuid, KVM)
    with store.write() as conn:
        db.delete_capabilities(conn, a.uuid)
        assert db.read(conn, a.uuid) is None
    # Registering again starts over at generation 1.
    assert db.save(store, a.uuid, KVM).generation == 1
    with store.write() as conn:
        providers.delete_provider(conn, b.uuid)
    with store.read() as conn:
        assert db.capabilities_by_root(conn, [a.id, b.id]) == {a.id: KVM}


def test_concurrent_first_writes_all_land(store: Store) -> None:
    """Six first PUTs racing for one host: one inserts, the rest retry and update; every
    one succeeds and the generations they saw are distinct."""
    with store.write() as conn:
        host = _host(conn, "cn1")
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def write(n: int) -> None:
        try:
            barrier.wait()
            caps = HostCapabilities(hypervisor_version=n)
            results.append(db.save(store, host.uuid, caps, attempts=12).generation)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(results) == list(range(1, 7))
    assert _rows(store) == 1
