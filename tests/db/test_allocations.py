"""The allocation committer against real databases: capacity, generations, races."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, func, insert, select

from berth.db import allocations, tables
from berth.db.engine import Store
from berth.model.allocation import ConsumerAllocations
from berth.model.errors import ConcurrentUpdate, ConflictError, InvalidError, NotFoundError


def add_provider(conn: Connection, name: str | None = None) -> tuple[int, str]:
    rp_uuid = str(uuid.uuid4())
    result = conn.execute(
        insert(tables.resource_providers).values(
            uuid=rp_uuid, name=name or rp_uuid, generation=0, created_at=tables.now()
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0]), rp_uuid


def add_inventory(conn: Connection, provider_id: int, rc: str, total: int, **kw: float) -> None:
    rc_id = conn.execute(
        select(tables.resource_classes.c.id).where(tables.resource_classes.c.name == rc)
    ).scalar_one()
    values = {"reserved": 0, "min_unit": 1, "max_unit": total, "step_size": 1}
    values.update({k: int(v) for k, v in kw.items() if k != "allocation_ratio"})
    conn.execute(
        insert(tables.inventories).values(
            resource_provider_id=provider_id,
            resource_class_id=rc_id,
            total=total,
            allocation_ratio=kw.get("allocation_ratio", 1.0),
            created_at=tables.now(),
            **values,
        )
    )


def provider_generation(store: Store, provider_id: int) -> int:
    rp = tables.resource_providers
    with store.read() as conn:
        return int(conn.execute(select(rp.c.generation).where(rp.c.id == provider_id)).scalar_one())


def used(store: Store, provider_id: int) -> int:
    a = tables.allocations
    with store.read() as conn:
        total = conn.execute(
            select(func.sum(a.c.used)).where(a.c.resource_provider_id == provider_id)
        ).scalar()
    return int(total or 0)


def claim(consumer: str, rp_uuid: str, **resources: int) -> ConsumerAllocations:
    return ConsumerAllocations(consumer, {rp_uuid: resources}, "proj", "user")


@pytest.fixture
def compute(store: Store) -> tuple[int, str]:
    """A provider with 8 VCPU (max 4 per allocation) and 100 DISK_GB in steps of 10."""
    with store.write() as conn:
        pid, rp_uuid = add_provider(conn, "compute")
        add_inventory(conn, pid, "VCPU", 8, max_unit=4)
        add_inventory(conn, pid, "DISK_GB", 100, step_size=10, min_unit=10)
    return pid, rp_uuid


def test_first_allocation_creates_consumer_and_bumps_generations(
    store: Store, compute: tuple[int, str]
) -> None:
    pid, rp = compute
    consumer = str(uuid.uuid4())
    with store.write() as conn:
        allocations.replace(conn, [claim(consumer, rp, VCPU=2, DISK_GB=20)])
    with store.read() as conn:
        view = allocations.for_consumer(conn, consumer)
    assert view.consumer is not None
    assert view.consumer.generation == 1
    assert (view.consumer.project_id, view.consumer.user_id) == ("proj", "user")
    assert [(a.provider_uuid, dict(a.resources)) for a in view.allocations] == [
        (rp, {"VCPU": 2, "DISK_GB": 20})
    ]
    assert provider_generation(store, pid) == 1


def test_replace_is_whole_set_and_leaves_other_consumers(
    store: Store, compute: tuple[int, str]
) -> None:
    _, rp = compute
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    with store.write() as conn:
        allocations.replace(conn, [claim(a, rp, VCPU=2, DISK_GB=20), claim(b, rp, VCPU=1)])
    with store.write() as conn:
        allocations.replace(conn, [claim(a, rp, VCPU=3)])
    with store.read() as conn:
        by_consumer = allocations.for_provider(conn, rp).by_consumer
        gen_a = allocations.for_consumer(conn, a).consumer
    assert by_consumer == {a: {"VCPU": 3}, b: {"VCPU": 1}}
    assert gen_a is not None and gen_a.generation == 2


@pytest.mark.parametrize(
    ("resources", "wording"),
    [
        ({"VCPU": 5}, "violate inventory constraints"),  # over max_unit
        ({"DISK_GB": 15}, "violate inventory constraints"),  # not a step of 10
        ({"DISK_GB": 110}, "violate inventory constraints"),  # over max_unit (= total)
        ({"MEMORY_MB": 1}, "Inventory for 'MEMORY_MB'"),  # no such inventory
    ],
)
def test_constraint_violations_are_conflicts(
    store: Store, compute: tuple[int, str], resources: dict[str, int], wording: str
) -> None:
    _, rp = compute
    with pytest.raises(ConflictError, match=wording), store.write() as conn:
        allocations.replace(conn, [claim(str(uuid.uuid4()), rp, **resources)])


def test_capacity_counts_every_consumer_of_the_batch(
    store: Store, compute: tuple[int, str]
) -> None:
    pid, rp = compute
    batch = [claim(str(uuid.uuid4()), rp, VCPU=3) for _ in range(3)]  # 9 > 8
    with pytest.raises(ConflictError, match="exceed the capacity"), store.write() as conn:
        allocations.replace(conn, batch)
    assert used(store, pid) == 0
    assert provider_generation(store, pid) == 0  # rolled back with everything else
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(tables.consumers)).scalar() == 0


def test_reserved_and_ratio_shape_capacity(store: Store) -> None:
    with store.write() as conn:
        pid, rp = add_provider(conn)
        add_inventory(conn, pid, "VCPU", 4, reserved=1, max_unit=4, allocation_ratio=2.0)
    with store.write() as conn:  # (4 - 1) * 2 = 6
        allocations.replace(conn, [claim(str(uuid.uuid4()), rp, VCPU=4)])
        allocations.replace(conn, [claim(str(uuid.uuid4()), rp, VCPU=2)])
    with pytest.raises(ConflictError, match="exceed the capacity"), store.write() as conn:
        allocations.replace(conn, [claim(str(uuid.uuid4()), rp, VCPU=1)])


def test_unknown_provider_and_class_are_invalid(store: Store, compute: tuple[int, str]) -> None:
    _, rp = compute
    ghost = str(uuid.uuid4())
    with pytest.raises(InvalidError, match=f"'{ghost}' that does not exist"), store.write() as c:
        allocations.replace(c, [claim(str(uuid.uuid4()), ghost, VCPU=1)])
    with pytest.raises(InvalidError, match="No such resource class COWS"), store.write() as c:
        allocations.replace(c, [claim(str(uuid.uuid4()), rp, COWS=1)])


def test_consumer_generation_is_compared(store: Store, compute: tuple[int, str]) -> None:
    _, rp = compute
    consumer = str(uuid.uuid4())

    def put(generation: int | None) -> None:
        req = ConsumerAllocations(
            consumer, {rp: {"VCPU": 1}}, "p", "u", generation=generation, check_generation=True
        )
        with store.write() as conn:
            allocations.replace(conn, [req])

    with pytest.raises(ConcurrentUpdate, match="expected null but got 3"):
        put(3)
    put(None)
    with pytest.raises(ConcurrentUpdate, match="expected 1 but got null"):
        put(None)
    with pytest.raises(ConcurrentUpdate, match="expected 1 but got 0"):
        put(0)
    put(1)


def test_empty_set_releases_and_forgets_consumer_without_bumping_provider(
    store: Store, compute: tuple[int, str]
) -> None:
    pid, rp = compute
    consumer = str(uuid.uuid4())
    with store.write() as conn:
        allocations.replace(conn, [claim(consumer, rp, VCPU=1)])
    with store.write() as conn:
        allocations.replace(conn, [ConsumerAllocations(consumer, {}, "proj", "user")])
    with store.read() as conn:
        assert allocations.for_consumer(conn, consumer).consumer is None
    assert used(store, pid) == 0
    assert provider_generation(store, pid) == 1  # releasing never moves it (as Placement)


def test_delete_consumer(store: Store, compute: tuple[int, str]) -> None:
    pid, rp = compute
    consumer = str(uuid.uuid4())
    with store.write() as conn:
        allocations.replace(conn, [claim(consumer, rp, VCPU=2)])
    with store.write() as conn:
        allocations.delete_consumer(conn, consumer)
    assert used(store, pid) == 0
    with pytest.raises(NotFoundError, match="No allocations for consumer"), store.write() as c:
        allocations.delete_consumer(c, consumer)


def _race(workers: int, attempt: Callable[[int], None]) -> list[BaseException | None]:
    """Run ``attempt(i)`` on ``workers`` threads released together; collect outcomes."""
    barrier = threading.Barrier(workers)
    outcomes: list[BaseException | None] = [None] * workers

    def run(i: int) -> None:
        barrier.wait()
        try:
            attempt(i)
        except BaseException as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def test_racing_claims_never_overcommit(store: Store, compute: tuple[int, str]) -> None:
    """Twelve writers claim 2 VCPU each on 8: at most four win; losers get a 409."""
    pid, rp = compute
    outcomes = _race(
        12,
        lambda i: _write(store, [claim(str(uuid.uuid4()), rp, VCPU=2)]),
    )
    won = [o for o in outcomes if o is None]
    lost = [o for o in outcomes if o is not None]
    assert all(isinstance(o, ConflictError) for o in lost), lost
    assert 1 <= len(won) <= 4
    assert used(store, pid) == 2 * len(won) <= 8
    assert provider_generation(store, pid) == len(won)


def test_racing_claims_with_retries_fill_exactly(store: Store, compute: tuple[int, str]) -> None:
    """Writers that lose a race retry: capacity ends exactly full, never over."""
    pid, rp = compute

    def claim_until_decided(i: int) -> None:
        req = claim(str(uuid.uuid4()), rp, VCPU=1)
        while True:
            try:
                _write(store, [req])
                return
            except ConcurrentUpdate:
                continue

    outcomes = _race(12, claim_until_decided)
    won = [o for o in outcomes if o is None]
    assert len(won) == 8
    assert all(isinstance(o, ConflictError) for o in outcomes if o is not None)
    assert used(store, pid) == 8


def test_a_claim_waits_for_a_racing_writer_and_counts_its_allocations(
    store: Store, compute: tuple[int, str]
) -> None:
    """A claim on a provider another transaction holds waits for it, then counts what it
    committed: 4 + 3 VCPU are committed while the racer waits to claim 3 more of 8."""
    pid, rp = compute
    outcome: list[BaseException | None] = []

    def racer() -> None:
        try:
            allocations.commit(store, [claim(str(uuid.uuid4()), rp, VCPU=3)])
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=racer)
    with store.write() as conn:
        allocations.replace(conn, [claim(str(uuid.uuid4()), rp, VCPU=4)])
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive()  # waiting for our transaction
        allocations.replace(conn, [claim(str(uuid.uuid4()), rp, VCPU=3)])
    thread.join(timeout=60)
    assert len(outcome) == 1
    assert isinstance(outcome[0], ConflictError), outcome
    assert "exceed the capacity" in outcome[0].message
    assert used(store, pid) == 7
    assert provider_generation(store, pid) == 2


def _write(store: Store, batch: list[ConsumerAllocations]) -> None:
    with store.write() as conn:
        allocations.replace(conn, batch)


def test_provider_with_nothing_listed_is_ignored(store: Store, compute: tuple[int, str]) -> None:
    """A caller (the scheduler) may name a provider with no resources: nothing is claimed."""
    pid, rp = compute
    consumer = str(uuid.uuid4())
    with store.write() as conn:
        allocations.replace(
            conn,
            [ConsumerAllocations(consumer, {rp: {"VCPU": 1}, str(uuid.uuid4()): {}}, "p", "u")],
        )
    assert used(store, pid) == 1


def test_provider_races_never_409_when_capacity_is_ample(
    store: Store, compute: tuple[int, str]
) -> None:
    """Clients never send provider generations with allocations, so a race on a provider
    is the committer's business (it waits for the provider's row lock): with room for
    everyone, all twelve concurrent claims succeed, and the provider moved one generation
    per claim."""
    pid, rp = compute
    outcomes = _race(
        12, lambda i: allocations.commit(store, [claim(str(uuid.uuid4()), rp, VCPU=1)])
    )
    # 8 VCPU of room: exactly eight fit; the other four are capacity refusals, not races.
    won = [o for o in outcomes if o is None]
    lost = [o for o in outcomes if o is not None]
    assert len(won) == 8
    assert all(isinstance(o, ConflictError) and not isinstance(o, ConcurrentUpdate) for o in lost)
    assert used(store, pid) == 8
    assert provider_generation(store, pid) == 8
