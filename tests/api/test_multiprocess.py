"""Several real server processes on one database: coherence and concurrent claims.

Two ``berth serve`` processes with two gunicorn workers each share one database. The
in-process tests cannot show what matters once every worker answers from its own
memory: a write acknowledged by any worker must be visible to a query answered by any
other worker (of the same server or the other one) as soon as the write has returned -
no sleeps, no retries. Every loop below writes through one connection and reads through
another, rotating over all (writer, reader) pairs of the four workers, and checks that
the pairs actually crossed workers and servers; the reader answers once just before
each write, so nothing but that write can refresh it. A writer holding a change-log id
while a later one commits checks the gap handling deterministically. The claims race
then lets 16 clients fill a small cloud through both servers and empty it again, and
checks the result in the tables themselves and through every worker.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from api.servers import HEADERS, Lane, Server, lanes_on_every_worker, running, tracebacks
from berth.db import changes, tables
from berth.db.engine import Store
from berth.db.generations import bump_provider

PROJECT = "5a0c9e4e-6c1f-4d8e-9e63-0d3b1f6a7c21"
USER = "0b9d6d1c-3a2f-4f5e-8a7b-9c8d7e6f5a4b"


@pytest.fixture
def servers(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[Server]]:
    """Two servers x two workers on the test database; logs printed if the test failed."""
    failed = request.session.testsfailed
    with running(
        db_url, tmp_path, count=2, workers=2, show_logs=lambda: request.session.testsfailed > failed
    ) as started:
        yield started


@pytest.fixture
def lanes(servers: list[Server]) -> Iterator[list[Lane]]:
    """One keep-alive connection on each of the four workers."""
    opened: list[Lane] = []
    try:
        for s in servers:
            opened += lanes_on_every_worker(s)
        yield opened
    finally:
        for lane in opened:
            lane.close()


class Pairs:
    """Rotates over every ordered (writer, reader) pair of lanes, same lane included, and
    records which (server, worker) pairs really answered."""

    def __init__(self, lanes: list[Lane]) -> None:
        self._cycle = itertools.cycle(list(itertools.product(lanes, repeat=2)))
        self.seen: set[tuple[tuple[int, int | None], tuple[int, int | None]]] = set()

    def next(self) -> tuple[Lane, Lane]:
        """The next pair, the reader already caught up with the change log: so the
        write about to happen is the only thing that can refresh what it answers."""
        writer, reader = next(self._cycle)
        prime(reader)
        return writer, reader

    def note(self, writer: Lane, reader: Lane) -> None:
        self.seen.add((writer.where, reader.where))

    def assert_crossed(self) -> None:
        """Writes were read back by another worker of the same server and by the other
        server (so neither a shared cache nor a lucky routing can pass the test)."""
        same_server_other_worker = [
            (w, r)
            for w, r in self.seen
            if w[0] == r[0] and w[1] != r[1] and None not in (w[1], r[1])
        ]
        other_server = [(w, r) for w, r in self.seen if w[0] != r[0]]
        assert same_server_other_worker, self.seen
        assert other_server, self.seen
        workers = {w for pair in self.seen for w in pair}
        assert len(workers) == 4, workers


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


def candidates(lane: Lane, **params: str) -> dict[str, Any]:
    body: dict[str, Any] = ok(lane.get("/allocation_candidates", params=params))
    return body


def prime(lane: Lane) -> None:
    """Have the lane's worker answer once (and so refresh its index) right now."""
    candidates(lane, resources="VCPU:1")


def offered(body: dict[str, Any]) -> set[str]:
    """Every provider that appears in some allocation request."""
    return {rp for areq in body["allocation_requests"] for rp in areq["allocations"]}


def create_provider(lane: Lane, name: str, parent: str | None = None) -> str:
    rp = str(uuid.uuid4())
    payload: dict[str, Any] = {"name": name, "uuid": rp}
    if parent:
        payload["parent_provider_uuid"] = parent
    ok(lane.post("/resource_providers", json=payload))
    return rp


def put_inventory(lane: Lane, rp: str, generation: int, inventories: dict[str, Any]) -> int:
    body = ok(
        lane.put(
            f"/resource_providers/{rp}/inventories",
            json={"resource_provider_generation": generation, "inventories": inventories},
        )
    )
    return int(body["resource_provider_generation"])


def put_allocation(
    lane: Lane, consumer: str, allocations: dict[str, Any], generation: int | None = None
) -> httpx.Response:
    return lane.put(
        f"/allocations/{consumer}",
        json={
            "allocations": allocations,
            "project_id": PROJECT,
            "user_id": USER,
            "consumer_generation": generation,
            "consumer_type": "INSTANCE",
        },
    )


def assert_no_tracebacks(servers: list[Server]) -> None:
    assert not tracebacks(servers), tracebacks(servers)


# --- coherence ---------------------------------------------------------------------


def test_allocations_are_visible_at_once_on_every_worker(
    servers: list[Server], lanes: list[Lane]
) -> None:
    """(a) Claiming a host's last capacity on one worker hides it from every other
    worker's candidates; moving or deleting the claim offers it again, at once."""
    setup = lanes[0]
    hosts = [create_provider(setup, f"host{i}") for i in range(4)]
    for rp in hosts:
        put_inventory(setup, rp, 0, {"VCPU": {"total": 4}, "MEMORY_MB": {"total": 2048}})
    pairs = Pairs(lanes)
    for i in range(64):
        host, other = hosts[i % 4], hosts[(i + 1) % 4]
        amount = 1 + i % 4
        writer, reader = pairs.next()
        consumer = str(uuid.uuid4())
        claim = {host: {"resources": {"VCPU": amount, "MEMORY_MB": 256}}}
        ok(put_allocation(writer, consumer, claim), 204)
        # Too much for what is left on host: not offered (the rest of the cloud is free).
        assert host not in offered(candidates(reader, resources=f"VCPU:{4 - amount + 1}"))
        pairs.note(writer, reader)
        if amount < 4:
            body = candidates(reader, resources=f"VCPU:{4 - amount}")
            assert host in offered(body)
            assert body["provider_summaries"][host]["resources"]["VCPU"]["used"] == amount
        # Move the claim to the next host through the reader; the writer sees the move.
        generation = ok(reader.get(f"/allocations/{consumer}"))["consumer_generation"]
        prime(writer)
        moved = {other: {"resources": {"VCPU": 4, "MEMORY_MB": 256}}}
        ok(put_allocation(reader, consumer, moved, generation), 204)
        body = candidates(writer, resources="VCPU:4")
        pairs.note(reader, writer)
        assert host in offered(body) and other not in offered(body), (host, other, body)
        assert body["provider_summaries"][host]["resources"]["VCPU"]["used"] == 0
        # Delete through the writer; the reader offers the other host again.
        prime(reader)
        ok(writer.delete(f"/allocations/{consumer}"), 204)
        body = candidates(reader, resources="VCPU:4,MEMORY_MB:2048")
        pairs.note(writer, reader)
        assert offered(body) == set(hosts), body
    pairs.assert_crossed()
    assert_no_tracebacks(servers)


def test_inventory_traits_and_aggregates_are_visible_at_once(
    servers: list[Server], lanes: list[Lane]
) -> None:
    """(b) Inventory, traits and aggregates written on one worker filter candidates on
    every other worker at once (resources=, required=, member_of=)."""
    setup = lanes[0]
    rp = create_provider(setup, "changing")
    steady = create_provider(setup, "steady")
    put_inventory(setup, steady, 0, {"VCPU": {"total": 64}})
    generation = 0
    pairs = Pairs(lanes)
    previous_trait = previous_agg = None
    for i in range(48):
        # Inventory: capacity (total - reserved) * ratio, changed on every iteration.
        total, reserved, ratio = 4 + (i * 5) % 13, i % 3, (1.0, 1.5, 2.0)[i % 3]
        capacity = int((total - reserved) * ratio)
        writer, reader = pairs.next()
        inventory = {
            "total": total,
            "reserved": reserved,
            "allocation_ratio": ratio,
            "max_unit": total * 2,
        }
        generation = put_inventory(writer, rp, generation, {"VCPU": inventory})
        body = candidates(reader, resources=f"VCPU:{capacity}")
        pairs.note(writer, reader)
        assert rp in offered(body), (i, inventory, body)
        assert body["provider_summaries"][rp]["resources"]["VCPU"]["capacity"] == capacity
        assert rp not in offered(candidates(reader, resources=f"VCPU:{capacity + 1}"))

        # Traits: the provider carries exactly this iteration's trait.
        writer, reader = pairs.next()
        trait = f"CUSTOM_COHERENT_{i}"
        ok(writer.put(f"/traits/{trait}"), 201)
        body = ok(
            writer.put(
                f"/resource_providers/{rp}/traits",
                json={"resource_provider_generation": generation, "traits": [trait]},
            )
        )
        generation = body["resource_provider_generation"]
        assert offered(candidates(reader, resources="VCPU:1", required=trait)) == {rp}
        pairs.note(writer, reader)
        assert rp not in offered(candidates(reader, resources="VCPU:1", required=f"!{trait}"))
        if previous_trait:
            assert not offered(candidates(reader, resources="VCPU:1", required=previous_trait))
        previous_trait = trait

        # Aggregates: the provider is in exactly this iteration's aggregate.
        writer, reader = pairs.next()
        agg = str(uuid.uuid4())
        body = ok(
            writer.put(
                f"/resource_providers/{rp}/aggregates",
                json={"resource_provider_generation": generation, "aggregates": [agg]},
            )
        )
        generation = body["resource_provider_generation"]
        assert offered(candidates(reader, resources="VCPU:1", member_of=agg)) == {rp}
        pairs.note(writer, reader)
        assert offered(candidates(reader, resources="VCPU:1", member_of=f"!{agg}")) == {steady}
        if previous_agg:
            assert not offered(candidates(reader, resources="VCPU:1", member_of=previous_agg))
        previous_agg = agg

        if i % 6 == 5:
            # Inventory removed altogether: no longer a candidate anywhere.
            writer, reader = pairs.next()
            ok(writer.delete(f"/resource_providers/{rp}/inventories"), 204)
            assert offered(candidates(reader, resources="VCPU:1")) == {steady}
            pairs.note(writer, reader)
            generation = ok(reader.get(f"/resource_providers/{rp}"))["generation"]
    pairs.assert_crossed()
    assert_no_tracebacks(servers)


def test_tree_changes_are_visible_at_once(servers: list[Server], lanes: list[Lane]) -> None:
    """(c) Nested providers created, re-parented (1.37) and deleted on one worker appear
    in, move within and vanish from every other worker's candidates at once."""
    setup = lanes[0]
    roots = [create_provider(setup, f"root{i}") for i in range(2)]
    for root in roots:
        put_inventory(setup, root, 0, {"VCPU": {"total": 8}})
    pairs = Pairs(lanes)
    window: dict[str, str] = {}  # live child -> its root
    order: list[str] = []
    for i in range(48):
        writer, reader = pairs.next()
        child = create_provider(writer, f"child{i}", parent=roots[0])
        put_inventory(writer, child, 0, {"SRIOV_NET_VF": {"total": 2}})
        window[child] = roots[0]
        order.append(child)
        body = candidates(reader, resources="SRIOV_NET_VF:1")
        pairs.note(writer, reader)
        assert offered(body) == set(window), (i, body)
        summary = body["provider_summaries"][child]
        assert summary["parent_provider_uuid"] == roots[0]
        assert summary["root_provider_uuid"] == roots[0]

        if i % 2:
            # Move the newest child under the other root (its generation is 1 now).
            writer, reader = pairs.next()
            ok(
                writer.put(
                    f"/resource_providers/{child}",
                    json={"name": f"child{i}", "parent_provider_uuid": roots[1]},
                )
            )
            window[child] = roots[1]
            body = candidates(reader, resources="SRIOV_NET_VF:1")
            pairs.note(writer, reader)
            assert body["provider_summaries"][child]["root_provider_uuid"] == roots[1]

        # Whole trees: VCPU from a root and a VF from one of its children.
        body = candidates(reader, resources="VCPU:1,SRIOV_NET_VF:1")
        got = {
            (rp, root)
            for areq in body["allocation_requests"]
            for rp in areq["allocations"]
            for root in areq["allocations"]
            if rp in window and root in roots
        }
        assert got == set(window.items()), (i, body)

        if len(order) > 3:
            writer, reader = pairs.next()
            gone = order.pop(0)
            ok(writer.delete(f"/resource_providers/{gone}"), 204)
            del window[gone]
            body = candidates(reader, resources="SRIOV_NET_VF:1")
            pairs.note(writer, reader)
            assert offered(body) == set(window), (i, gone, body)
            assert gone not in body["provider_summaries"]
    pairs.assert_crossed()
    assert_no_tracebacks(servers)


def test_a_late_commit_is_never_missed(
    servers: list[Server], lanes: list[Lane], db_url: str
) -> None:
    """A writer that takes its change-log id before another writer but commits after it
    leaves a gap that every worker must keep asking for: once it commits, every worker
    sees it. (On SQLite writers serialize, so ids cannot commit out of order: there the
    held write only checks that readers go on answering from committed state.)"""
    setup = lanes[0]
    late = create_provider(setup, "late")
    early = create_provider(setup, "early")
    for rp in (late, early):
        put_inventory(setup, rp, 0, {"VCPU": {"total": 8}})
    rp_t, inv_t = tables.resource_providers, tables.inventories
    store = Store.from_url(db_url)
    try:
        committed = 8
        for round_, total in enumerate((2, 5, 3)):
            for lane in lanes:  # every worker has an index and a position in the log
                assert late in offered(candidates(lane, resources="VCPU:1"))
            early_claim = str(uuid.uuid4())
            with store.write() as conn:
                rp_id, generation = conn.execute(
                    select(rp_t.c.id, rp_t.c.generation).where(rp_t.c.uuid == late)
                ).one()
                conn.execute(
                    update(inv_t).where(inv_t.c.resource_provider_id == rp_id).values(total=total)
                )
                bump_provider(conn, rp_id, generation)
                changes.flush(conn)  # take the change id now, commit later
                held_id = changes.head(conn)
                if store.dialect != "sqlite":
                    # A later writer commits first; every worker moves past the held id.
                    claim = {early: {"resources": {"VCPU": 8}}}
                    ok(put_allocation(lanes[round_ % 4], early_claim, claim), 204)
                    with store.read() as other:
                        assert changes.head(other) > held_id
                # Meanwhile every worker answers from committed state only.
                for lane in lanes:
                    body = candidates(lane, resources="VCPU:1")
                    assert offered(body) == ({late} if store.dialect != "sqlite" else {late, early})
                    capacity = body["provider_summaries"][late]["resources"]["VCPU"]["capacity"]
                    assert capacity == committed
            committed = total
            # Committed now: every worker sees it, though it already read past its id.
            for lane in lanes:
                body = candidates(lane, resources="VCPU:1")
                assert body["provider_summaries"][late]["resources"]["VCPU"]["capacity"] == total
                assert late not in offered(candidates(lane, resources=f"VCPU:{total + 1}"))
            if store.dialect != "sqlite":
                ok(lanes[(round_ + 1) % 4].delete(f"/allocations/{early_claim}"), 204)
    finally:
        store.dispose()
    assert_no_tracebacks(servers)


# --- concurrent claims -------------------------------------------------------------

CLIENTS = 16
HOSTS = 10
# The fill normally takes 2-5 s; the bound only ends a run whose candidates went stale.
RACE_SECONDS = 15.0
JOIN_TIMEOUT = 120.0


@dataclass
class Tally:
    """What the clients saw, shared between their threads (under ``lock``)."""

    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    saw_full: int = 0
    polls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers=HEADERS, timeout=60.0)


def _claimer(url: str, seed: int, stop_at: float, tally: Tally) -> None:
    """Ask for candidates, claim one of them, until nothing fits or time is up."""
    with _client(url) as c:
        while time.monotonic() < stop_at:
            resp = c.get(
                "/allocation_candidates",
                params={"resources": "VCPU:1,MEMORY_MB:256", "limit": "5"},
            )
            if resp.status_code != 200:
                tally.error(f"GET {resp.status_code}: {resp.text}")
                return
            areqs = resp.json()["allocation_requests"]
            if not areqs:
                with tally.lock:
                    tally.saw_full += 1
                return
            seed += 1
            allocations = areqs[seed % len(areqs)]["allocations"]
            consumer = str(uuid.uuid4())
            resp = c.put(
                f"/allocations/{consumer}",
                json={
                    "allocations": allocations,
                    "project_id": PROJECT,
                    "user_id": USER,
                    "consumer_generation": None,
                    "consumer_type": "INSTANCE",
                },
            )
            with tally.lock:
                tally.statuses[resp.status_code] += 1
                if resp.status_code == 204:
                    tally.claims[consumer] = allocations
                elif resp.status_code != 409:
                    tally.errors.append(f"PUT {resp.status_code}: {resp.text}")


def _freer(url: str, consumers: list[str], tally: Tally) -> None:
    with _client(url) as c:
        for consumer in consumers:
            resp = c.delete(f"/allocations/{consumer}")
            with tally.lock:
                tally.statuses[resp.status_code] += 1
                if resp.status_code != 204:
                    tally.errors.append(f"DELETE {resp.status_code}: {resp.text}")


def _poller(url: str, done: threading.Event, tally: Tally) -> None:
    """Keep the worker refreshing its index while writes commit (in any order)."""
    with _client(url) as c:
        while not done.is_set():
            resp = c.get("/allocation_candidates", params={"resources": "VCPU:1", "limit": "3"})
            with tally.lock:
                tally.polls += 1
            if resp.status_code != 200:
                tally.error(f"GET {resp.status_code}: {resp.text}")
                return


def _guarded(target: Callable[[], None], tally: Tally) -> Callable[[], None]:
    def run() -> None:
        try:
            target()
        except Exception as exc:  # reported by the test, not lost in the thread
            tally.error(f"{type(exc).__name__}: {exc}")

    return run


def _run(targets: list[Callable[[], None]], tally: Tally) -> None:
    threads = [threading.Thread(target=_guarded(t, tally), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
        assert not t.is_alive(), "a client hung"


def _host_inventory(i: int) -> dict[str, Any]:
    return {
        "VCPU": {
            "total": 8,
            "reserved": 1 if i % 3 == 0 else 0,
            "allocation_ratio": 1.5 if i % 2 else 1.0,
        },
        "MEMORY_MB": {"total": 4096, "reserved": 512 if i % 4 == 0 else 0, "max_unit": 4096},
    }


def _capacity(inv: dict[str, Any]) -> int:
    return int((inv["total"] - inv.get("reserved", 0)) * inv.get("allocation_ratio", 1.0))


def test_concurrent_claims_never_overcommit(
    servers: list[Server], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """16 clients race to fill 10 hosts through both servers, then 8 free them again
    while 8 keep querying: every claim is a 204 or a 409, the cloud ends up exactly
    full, the tables hold exactly the claims that succeeded (none over capacity), and
    after each phase every worker's candidates show exactly the usage in the tables."""
    setup = Lane(servers[0], "setup")
    hosts: dict[str, dict[str, Any]] = {}
    for i in range(HOSTS):
        rp = create_provider(setup, f"race{i}")
        hosts[rp] = _host_inventory(i)
        put_inventory(setup, rp, 0, hosts[rp])
    setup.close()
    slots = sum(
        min(_capacity(inv["VCPU"]), _capacity(inv["MEMORY_MB"]) // 256) for inv in hosts.values()
    )
    urls = [servers[n % 2].url for n in range(CLIENTS)]
    store = Store.from_url(db_url)
    try:
        fill = Tally()
        started = time.monotonic()
        stop_at = started + RACE_SECONDS
        _run(
            [functools.partial(_claimer, url, n, stop_at, fill) for n, url in enumerate(urls)],
            fill,
        )
        fill_time = time.monotonic() - started
        assert not fill.errors, fill.errors[:5]
        assert set(fill.statuses) <= {204, 409}, fill.statuses  # no 5xx, no other error
        # Progress: every client stopped because nothing fitted any more.
        assert fill.saw_full == CLIENTS, (
            f"time ran out: {fill.saw_full}/{CLIENTS} clients saw a full cloud, "
            f"{len(fill.claims)}/{slots} slots claimed, {dict(fill.statuses)}"
        )
        assert len(fill.claims) == slots
        _check_everything(servers, store, hosts, fill.claims)

        drain = Tally()
        done = threading.Event()
        claimed = list(fill.claims)
        half = CLIENTS // 2
        pollers = [
            threading.Thread(target=_guarded(functools.partial(_poller, url, done, drain), drain))
            for url in urls[half:]
        ]
        for t in pollers:
            t.start()
        started = time.monotonic()
        try:
            _run(
                [
                    functools.partial(_freer, url, claimed[n::half], drain)
                    for n, url in enumerate(urls[:half])
                ],
                drain,
            )
        finally:
            done.set()
            for t in pollers:
                t.join(JOIN_TIMEOUT)
        drain_time = time.monotonic() - started
        assert not drain.errors, drain.errors[:5]
        assert drain.statuses == Counter({204: slots}), drain.statuses
        _check_everything(servers, store, hosts, {})
    finally:
        store.dispose()
    with capsys.disabled():
        print(
            f"\n[claims race {make_url(db_url).get_backend_name()}] fill {fill_time:.1f}s "
            f"{dict(fill.statuses)} {len(fill.claims)}/{slots} slots; "
            f"drain {drain_time:.1f}s {dict(drain.statuses)} with {drain.polls} polls"
        )
    assert_no_tracebacks(servers)


def _check_everything(
    servers: list[Server], store: Store, hosts: dict[str, Any], claims: dict[str, Any]
) -> None:
    """The tables hold exactly ``claims`` and nothing over capacity; through every worker
    usages are the sums of the allocations and candidates offer exactly the hosts with
    room, with exactly the usage in the tables."""
    _check_tables(store, hosts, claims)
    expected = {rp: Counter[str]() for rp in hosts}
    for allocations in claims.values():
        for rp, alloc in allocations.items():
            expected[rp].update(alloc["resources"])
    for lane in [lane for s in servers for lane in lanes_on_every_worker(s)]:
        try:
            for rp, inv in hosts.items():
                usages = ok(lane.get(f"/resource_providers/{rp}/usages"))["usages"]
                assert usages == {rc: expected[rp][rc] for rc in inv}, (rp, usages)
            for rc, amount in (("VCPU", 1), ("MEMORY_MB", 256)):
                body = candidates(lane, resources=f"{rc}:{amount}")
                room = {
                    rp
                    for rp, inv in hosts.items()
                    if expected[rp][rc] + amount <= _capacity(inv[rc])
                }
                assert offered(body) == room, (lane.where, rc, body)
                for rp in room:
                    summary = body["provider_summaries"][rp]["resources"]
                    assert {c: r["used"] for c, r in summary.items()} == {
                        c: expected[rp][c] for c in hosts[rp]
                    }, (lane.where, rp, summary)
        finally:
            lane.close()


def _check_tables(store: Store, hosts: dict[str, Any], claims: dict[str, Any]) -> None:
    rp_t, inv_t, alloc_t, rc_t = (
        tables.resource_providers,
        tables.inventories,
        tables.allocations,
        tables.resource_classes,
    )
    with store.read() as conn:
        used = {
            (uuid_, rc): int(total)
            for uuid_, rc, total in conn.execute(
                select(rp_t.c.uuid, rc_t.c.name, func.sum(alloc_t.c.used))
                .join(rp_t, rp_t.c.id == alloc_t.c.resource_provider_id)
                .join(rc_t, rc_t.c.id == alloc_t.c.resource_class_id)
                .group_by(rp_t.c.uuid, rc_t.c.name)
            )
        }
        inventories = {
            (uuid_, rc): int((total - reserved) * ratio)
            for uuid_, rc, total, reserved, ratio in conn.execute(
                select(
                    rp_t.c.uuid,
                    rc_t.c.name,
                    inv_t.c.total,
                    inv_t.c.reserved,
                    inv_t.c.allocation_ratio,
                )
                .join(rp_t, rp_t.c.id == inv_t.c.resource_provider_id)
                .join(rc_t, rc_t.c.id == inv_t.c.resource_class_id)
            )
        }
        rows = conn.execute(
            select(alloc_t.c.consumer_id, rp_t.c.uuid, rc_t.c.name, alloc_t.c.used)
            .join(rp_t, rp_t.c.id == alloc_t.c.resource_provider_id)
            .join(rc_t, rc_t.c.id == alloc_t.c.resource_class_id)
        ).all()
        consumers = set(conn.scalars(select(tables.consumers.c.uuid)))
    over = {
        key: (n, inventories.get(key)) for key, n in used.items() if n > inventories.get(key, 0)
    }
    assert not over, over
    stored: dict[str, dict[str, dict[str, int]]] = {}
    for consumer, rp, rc, n in rows:
        stored.setdefault(consumer, {}).setdefault(rp, {})[rc] = n
    assert stored == {
        consumer: {rp: dict(a["resources"]) for rp, a in allocations.items()}
        for consumer, allocations in claims.items()
    }
    assert set(inventories) == {(rp, rc) for rp, inv in hosts.items() for rc in inv}
    # A consumer exists exactly while it has allocations (Placement deletes empty ones).
    assert consumers == set(claims)
