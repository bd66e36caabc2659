"""Server groups in the store: ownership, duplicate names, and the generation
compare-and-swap that serializes scheduler workers adding members, on every engine."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, delete, select

from berth.db import providers, server_groups, tables
from berth.db.engine import Store
from berth.model.errors import (
    DUPLICATE_NAME,
    ConcurrentUpdate,
    ConflictError,
    InvalidError,
    NotFoundError,
)
from berth.model.provider import Provider
from berth.model.server_group import ANTI_AFFINITY, ServerGroup

PROJECT = "p1"
USER = "u1"


@pytest.fixture(autouse=True)
def _no_groups(store: Store) -> Iterator[None]:
    """Server groups reference no provider, so the shared databases keep them: clear them."""
    _clear(store)
    yield
    _clear(store)


def _clear(store: Store) -> None:
    with store.write() as conn:
        conn.execute(delete(tables.server_group_members))
        conn.execute(delete(tables.server_groups))


def _host(conn: Connection, name: str, parent: Provider | None = None) -> Provider:
    return providers.create(
        conn, uuid=str(uuid.uuid4()), name=name, parent_uuid=parent.uuid if parent else None
    )


def _group(
    conn: Connection,
    name: str = "g",
    policy: str = ANTI_AFFINITY,
    project_id: str = PROJECT,
    max_per_host: int | None = None,
) -> ServerGroup:
    return server_groups.create(
        conn,
        uuid=str(uuid.uuid4()),
        name=name,
        project_id=project_id,
        user_id=USER,
        policy=policy,
        max_server_per_host=max_per_host,
    )


def test_create_get_list_delete(store: Store) -> None:
    with store.write() as conn:
        one = _group(conn, "one", max_per_host=2)
        two = _group(conn, "two", policy="soft-affinity", project_id="p2")
    with store.read() as conn:
        got = server_groups.get(conn, one.uuid)
        assert got == one
        assert got.generation == 0
        assert got.per_host_limit == 2
        assert server_groups.get(conn, two.uuid).per_host_limit is None
        assert [g.uuid for g in server_groups.list_groups(conn)] == [one.uuid, two.uuid]
        assert [g.uuid for g in server_groups.list_groups(conn, "p2")] == [two.uuid]
        assert server_groups.list_groups(conn, "nobody") == []
    with store.write() as conn:
        server_groups.delete_group(conn, one.uuid)
    with store.read() as conn:
        assert server_groups.find(conn, one.uuid) is None
        with pytest.raises(NotFoundError):
            server_groups.get(conn, one.uuid)
    with pytest.raises(NotFoundError), store.write() as conn:
        server_groups.delete_group(conn, one.uuid)


def test_duplicate_names_only_within_a_project(store: Store) -> None:
    with store.write() as conn:
        first = _group(conn, "web")
        _group(conn, "web", project_id="other")
    with pytest.raises(ConflictError) as info, store.write() as conn:
        _group(conn, "web")
    assert info.value.code == DUPLICATE_NAME
    with pytest.raises(ConflictError, match="uuid"), store.write() as conn:
        server_groups.create(
            conn, uuid=first.uuid, name="new", project_id=PROJECT, user_id=USER, policy="affinity"
        )
    with store.read() as conn:
        assert len(server_groups.list_groups(conn)) == 2


def test_bad_policy_and_rules_refused(store: Store) -> None:
    with store.write() as conn:
        with pytest.raises(InvalidError, match="policy"):
            _group(conn, policy="sideways")
        with pytest.raises(InvalidError, match="max_server_per_host"):
            _group(conn, policy="affinity", max_per_host=2)
        with pytest.raises(InvalidError, match="max_server_per_host"):
            _group(conn, max_per_host=0)


def test_add_members_swaps_the_generation(store: Store) -> None:
    with store.write() as conn:
        a, b = _host(conn, "a"), _host(conn, "b")
        group = _group(conn)
    c1, c2, c3 = (str(uuid.uuid4()) for _ in range(3))
    with store.write() as conn:
        assert server_groups.add_members(conn, group.uuid, [(c1, a.id), (c2, None)], 0) == 1
    with pytest.raises(ConcurrentUpdate) as info, store.write() as conn:
        server_groups.add_members(conn, group.uuid, [(c3, b.id)], 0)
    assert info.value.code == "placement.concurrent_update"
    with pytest.raises(ConcurrentUpdate), store.write() as conn:
        server_groups.add_members(conn, group.uuid, [(c3, b.id)], -1)
    with store.read() as conn:
        assert server_groups.get(conn, group.uuid).generation == 1
        assert sorted(server_groups.members(conn, [group.id])[group.id]) == sorted(
            [(c1, a.id), (c2, None)]
        )
    # Placing c2 later and moving c1 are one more membership change.
    with store.write() as conn:
        assert server_groups.add_members(conn, group.uuid, [(c2, b.id), (c1, b.id)], 1) == 2
    with store.read() as conn:
        details = server_groups.member_details(conn, [group.id, 12345])
        assert details[12345] == []
        shown = {(m.consumer_uuid, m.host_uuid, m.host_name) for m in details[group.id]}
        assert shown == {(c1, b.uuid, "b"), (c2, b.uuid, "b")}


def test_lock_moves_the_generation_and_reads_members_for_record(store: Store) -> None:
    with store.write() as conn:
        a, b = _host(conn, "a"), _host(conn, "b")
        group = _group(conn)
    c1, c2 = str(uuid.uuid4()), str(uuid.uuid4())
    with store.write() as conn:
        server_groups.add_members(conn, group.uuid, [(c1, a.id)], 0)
    with store.write() as conn:
        locked, members = server_groups.lock(conn, group.uuid)
        assert locked.generation == 2 and members == [(c1, a.id)]
        server_groups.record_members(conn, locked, [(c2, b.id)])
    with store.read() as conn:
        assert server_groups.get(conn, group.uuid).generation == 2
        assert sorted(server_groups.members(conn, [group.id])[group.id]) == sorted(
            [(c1, a.id), (c2, b.id)]
        )
    with pytest.raises(NotFoundError), store.write() as conn:
        server_groups.lock(conn, str(uuid.uuid4()))


def test_add_members_refuses_non_roots_and_unknown_groups(store: Store) -> None:
    with store.write() as conn:
        root = _host(conn, "root")
        child = _host(conn, "child", root)
        group = _group(conn)
    consumer = str(uuid.uuid4())
    with pytest.raises(InvalidError, match="root"), store.write() as conn:
        server_groups.add_members(conn, group.uuid, [(consumer, child.id)], 0)
    with pytest.raises(InvalidError), store.write() as conn:
        server_groups.add_members(conn, group.uuid, [(consumer, 999_999)], 0)
    with pytest.raises(NotFoundError), store.write() as conn:
        server_groups.add_members(conn, str(uuid.uuid4()), [(consumer, root.id)], 0)
    with store.read() as conn:
        # Nothing half-written: neither the member nor the generation moved.
        assert server_groups.get(conn, group.uuid).generation == 0
        assert server_groups.members(conn, [group.id]) == {group.id: []}


def test_remove_member_bumps_and_404s(store: Store) -> None:
    with store.write() as conn:
        host = _host(conn, "h")
        group = _group(conn)
    consumer = str(uuid.uuid4())
    with store.write() as conn:
        server_groups.add_members(conn, group.uuid, [(consumer, host.id)], 0)
    with store.write() as conn:
        assert server_groups.remove_member(conn, group.uuid, consumer) == 2
    with pytest.raises(NotFoundError, match="not a member"), store.write() as conn:
        server_groups.remove_member(conn, group.uuid, consumer)
    with store.read() as conn:
        assert server_groups.get(conn, group.uuid).generation == 2
        assert server_groups.members(conn, [group.id]) == {group.id: []}


def test_deleting_a_host_unplaces_its_members_and_group_delete_takes_members(
    store: Store,
) -> None:
    with store.write() as conn:
        host = _host(conn, "h")
        group = _group(conn)
    consumer = str(uuid.uuid4())
    with store.write() as conn:
        server_groups.add_members(conn, group.uuid, [(consumer, host.id)], 0)
    with store.write() as conn:
        providers.delete_provider(conn, host.uuid)
    with store.read() as conn:
        assert server_groups.members(conn, [group.id]) == {group.id: [(consumer, None)]}
    with store.write() as conn:
        server_groups.delete_group(conn, group.uuid)
    with store.read() as conn:
        left = conn.execute(select(tables.server_group_members.c.consumer_uuid)).all()
        assert left == []


def _place(
    store: Store, group_uuid: str, consumer: str, host_id: int, first: threading.Barrier
) -> tuple[str, int]:
    """One scheduler worker: read the group, check anti-affinity, swap; re-read on conflict.

    Returns ("placed" | "refused", number of conflicts met). Every worker's first read
    happens before any worker's first write (the barrier), so all of them start from the
    same generation."""
    conflicts = 0
    while True:
        with store.read() as conn:
            group = server_groups.get(conn, group_uuid)
            members = server_groups.members(conn, [group.id])[group.id]
        if conflicts == 0:
            first.wait(timeout=60)
        per_host = Counter(root for _, root in members)
        limit = group.per_host_limit
        if limit is not None and per_host[host_id] >= limit:
            return "refused", conflicts
        try:
            with store.write() as conn:
                seen = group.generation
                server_groups.add_members(conn, group_uuid, [(consumer, host_id)], seen)
            return "placed", conflicts
        except ConcurrentUpdate:
            conflicts += 1


def _race(store: Store, group_uuid: str, wanted: list[int]) -> list[tuple[str, int]]:
    first = threading.Barrier(len(wanted))
    results: list[tuple[str, int] | BaseException] = [RuntimeError("not run")] * len(wanted)
    consumers = [str(uuid.uuid4()) for _ in wanted]

    def run(i: int) -> None:
        try:
            results[i] = _place(store, group_uuid, consumers[i], wanted[i], first)
        except BaseException as exc:  # reported below, never swallowed
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(wanted))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    out: list[tuple[str, int]] = []
    for r in results:
        if isinstance(r, BaseException):
            raise r
        out.append(r)
    return out


def test_concurrent_workers_serialize_on_the_group_generation(store: Store) -> None:
    """8 workers, 4 hosts, each host wanted by two workers, anti-affinity: all read
    generation 0 at once; exactly one first swap succeeds, the other 7 conflict. Retrying
    on fresh reads, exactly one worker per host gets it, the other is refused by the
    policy, and the generation counts every accepted change (no lost update)."""
    with store.write() as conn:
        hosts = [_host(conn, f"h{i}").id for i in range(4)]
        group = _group(conn)
    results = _race(store, group.uuid, [hosts[i % 4] for i in range(8)])
    first_try = [outcome for outcome, conflicts in results if conflicts == 0]
    assert first_try == ["placed"]
    assert sum(1 for _, conflicts in results if conflicts > 0) == 7
    assert Counter(outcome for outcome, _ in results) == {"placed": 4, "refused": 4}
    with store.read() as conn:
        final = server_groups.get(conn, group.uuid)
        members = server_groups.members(conn, [group.id])[group.id]
    assert final.generation == 4
    assert sorted(root for _, root in members) == sorted(hosts)


def test_concurrent_distinct_hosts_all_land(store: Store) -> None:
    """Without policy refusals every worker lands eventually: 8 members, generation 8."""
    with store.write() as conn:
        hosts = [_host(conn, f"h{i}").id for i in range(8)]
        group = _group(conn)
    results = _race(store, group.uuid, hosts)
    assert all(outcome == "placed" for outcome, _ in results)
    assert sum(1 for _, conflicts in results if conflicts == 0) == 1
    with store.read() as conn:
        assert server_groups.get(conn, group.uuid).generation == 8
        members = server_groups.members(conn, [group.id])[group.id]
    assert sorted(root for _, root in members) == sorted(hosts)
