"""Many scheduler workers, one database: racing POST /berth/v1/schedule stays correct.

Two ``berth serve`` processes with two gunicorn workers each (four resident indexes, four
schedulers) share one database. Sixteen clients, four on every worker, wait at a barrier
and then all ask to schedule at once: into one anti-affinity group, one affinity group,
an anti-affinity group with ``max_server_per_host``, a nearly full cloud without a group,
and multi-instance requests into one anti-affinity group. Each worker decides on its own
memory; only the claim (one transaction: the allocation committer's capacity check and the
group's rule re-checked under its row lock) can keep the outcome right, so afterwards the
test checks the database itself and the API:

* every answer is a 200 with claimed placements or a 409 in Placement's error format (no
  valid host, or the scheduler giving up after its bounded retries), never a 5xx;
* no provider is used beyond (total - reserved) x allocation_ratio; usages are exactly the
  sums of the allocations; the allocations are exactly those of the successful answers,
  and a failed (all-or-nothing) request left no allocation, consumer or member behind;
* the group's members are exactly the successful instances on the hosts they were
  placed on, and the hard rule holds (one host for affinity, at most one or
  ``max_server_per_host`` per host for anti-affinity);
* nothing that could have been placed was refused: a "no valid host" for ``k`` instances
  is only right when fewer than ``k`` places were left, and places only ever shrink
  during a race, so fewer than ``k`` must be left at the end;
* nobody runs out of retries ("please retry" would be a correct answer, but the claim
  re-checks the group's rule instead of refusing any concurrent change and a lost race
  re-decides spread over more hosts, so it must not happen here); the retry-one-by-one
  and top-up steps afterwards then expect the cloud (or group) to be exactly full.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from api.servers import HEADERS, Lane, Server, lanes_on_every_worker, running, tracebacks
from berth.db import tables
from berth.db.engine import Store

CLIENTS = 16
PER_WORKER = CLIENTS // 4
JOIN_TIMEOUT = 120.0
NO_VALID_HOST = "berth.schedule.no_valid_host"
GAVE_UP = "placement.undefined_code"  # the scheduler's "Could not claim after N attempts"
FLAVOR = {"name": "m1.small", "vcpus": 2, "memory_mb": 2048, "root_gb": 10}
PER_INSTANCE = {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 10}
ROOMY = {"VCPU": {"total": 32}, "MEMORY_MB": {"total": 32768}, "DISK_GB": {"total": 400}}
PROJECT = "p-race"
USER = "u-race"


@pytest.fixture
def servers(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[Server]]:
    """Two servers x two workers on the test database; logs printed if the test failed."""
    failed = request.session.testsfailed
    with running(
        db_url, tmp_path, count=2, workers=2, show_logs=lambda: request.session.testsfailed > failed
    ) as started:
        yield started


@pytest.fixture
def admin(servers: list[Server]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=servers[0].url, headers=HEADERS, timeout=60.0) as c:
        yield c


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else None


# --- the cloud ----------------------------------------------------------------------


def make_host(c: httpx.Client, name: str, inventories: dict[str, Any]) -> str:
    rp = str(uuid.uuid4())
    ok(c.post("/resource_providers", json={"name": name, "uuid": rp}))
    ok(
        c.put(
            f"/resource_providers/{rp}/inventories",
            json={"resource_provider_generation": 0, "inventories": inventories},
        )
    )
    return rp


def make_group(c: httpx.Client, policy: str, rules: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"name": f"race-{policy}", "policy": policy}
    if rules:
        body["rules"] = rules
    return str(ok(c.post("/berth/v1/server_groups", json=body), 201)["uuid"])


def fill(c: httpx.Client, rp: str, resources: dict[str, int]) -> str:
    """A consumer already running on ``rp`` (to make a cloud nearly full)."""
    consumer = str(uuid.uuid4())
    body = {
        "allocations": {rp: {"resources": resources}},
        "project_id": PROJECT,
        "user_id": USER,
        "consumer_generation": None,
        "consumer_type": "INSTANCE",
    }
    ok(c.put(f"/allocations/{consumer}", json=body), 204)
    return consumer


def schedule_body(num: int = 1, group: tuple[str, str] | None = None) -> dict[str, Any]:
    """A request with its instance uuids given, so a failed one can be looked for."""
    body: dict[str, Any] = {
        "flavor": FLAVOR,
        "project_id": PROJECT,
        "user_id": USER,
        "num_instances": num,
        "instance_uuids": [str(uuid.uuid4()) for _ in range(num)],
    }
    if group is not None:
        body["server_group"] = {"uuid": group[0], "policy": group[1]}
    return body


# --- the race -----------------------------------------------------------------------


@dataclass
class Outcome:
    """One client's request and its answer, and which (server port, worker pid) answered."""

    body: dict[str, Any]
    status: int
    answer: dict[str, Any]
    where: tuple[int, int | None]

    @property
    def uuids(self) -> list[str]:
        return list(self.body["instance_uuids"])

    @property
    def code(self) -> str | None:
        errors = self.answer.get("errors")
        return str(errors[0]["code"]) if errors else None

    @property
    def placed(self) -> bool:
        return self.status == 200


def race(servers: list[Server], bodies: list[dict[str, Any]]) -> list[Outcome]:
    """Send ``bodies`` at once, four clients on every worker of both servers.

    Each client first asks a dry run, so its worker has a scheduler and a fresh index;
    then all wait, touch their connection once more (gunicorn closes keep-alive
    connections idle for 2 s, so no connection waits long before its real request), wait
    again and send their real request together.
    """
    assert len(bodies) == CLIENTS
    lanes: list[Lane] = []
    try:
        for s in servers:
            lanes += lanes_on_every_worker(s, per_worker=PER_WORKER)
        barrier = threading.Barrier(CLIENTS)
        results: list[Outcome | None] = [None] * CLIENTS
        errors: list[str] = []

        def client(n: int) -> None:
            lane, body = lanes[n], bodies[n]
            try:
                warm = _idempotent(lane, "POST", "/berth/v1/schedule", {**body, "dry_run": True})
                assert warm.status_code == 200, warm.text
                barrier.wait(timeout=30)
                assert _idempotent(lane, "GET", "/").status_code == 200
                barrier.wait(timeout=30)
                resp = lane.post("/berth/v1/schedule", json=body)
                answer = resp.json() if resp.content else {}
                results[n] = Outcome(body, resp.status_code, answer, lane.where)
            except Exception as exc:  # reported below, not lost in the thread
                errors.append(f"client {n}: {type(exc).__name__}: {exc}")
                barrier.abort()

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(JOIN_TIMEOUT)
            assert not t.is_alive(), "a client hung"
        assert not errors, errors
        outcomes = [r for r in results if r is not None]
        assert len(outcomes) == CLIENTS
    finally:
        for lane in lanes:
            lane.close()
    check_answers(outcomes)
    # The race really ran through every worker of both servers.
    answered = {o.where for o in outcomes}
    assert {port for port, _ in answered} == {s.port for s in servers}, answered
    assert len({pid for _, pid in answered if pid is not None}) == 4, answered
    assert not tracebacks(servers), tracebacks(servers)
    return outcomes


def _idempotent(
    lane: Lane, method: str, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    """A request that may safely be sent again: once more if the server had just closed
    the idle keep-alive connection (the lane then reconnects, maybe to another worker)."""
    for attempt in range(3):
        try:
            return lane.request(method, path, json=body)
        except httpx.TransportError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def check_answers(outcomes: list[Outcome]) -> None:
    """200 with every instance claimed, or a 409 in Placement's error format."""
    for o in outcomes:
        if o.placed:
            assert o.answer["placed"] and o.answer["claimed"], o.answer
            assert [p["instance_uuid"] for p in o.answer["placements"]] == o.uuids
            for p in o.answer["placements"]:
                assert p["allocations"] == {p["host"]["uuid"]: {"resources": PER_INSTANCE}}
            continue
        assert o.status == 409, (o.status, o.answer)
        (error,) = o.answer["errors"]
        assert {"status", "title", "detail", "request_id", "code"} <= set(error), error
        assert error["status"] == 409
        assert error["code"] in (NO_VALID_HOST, GAVE_UP), error
        if error["code"] == GAVE_UP:
            assert "Could not claim" in error["detail"], error
        assert o.answer.get("placements", []) == []


def hosts_of(outcomes: list[Outcome]) -> dict[str, str]:
    """Instance uuid -> host uuid of every instance placed."""
    return {
        p["instance_uuid"]: p["host"]["uuid"]
        for o in outcomes
        if o.placed
        for p in o.answer["placements"]
    }


def gave_up(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.code == GAVE_UP]


def refused(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.code == NO_VALID_HOST]


def retry_one_by_one(c: httpx.Client, outcomes: list[Outcome]) -> list[Outcome]:
    """Send the requests that ran out of retries again, one at a time (as a client told
    "please retry" would): with nobody racing them they get a definite answer."""
    again: list[Outcome] = []
    for o in gave_up(outcomes):
        resp = c.post("/berth/v1/schedule", json=o.body)
        again.append(Outcome(o.body, resp.status_code, resp.json(), (0, None)))
    check_answers(again)
    assert not gave_up(again), [o.answer for o in gave_up(again)]
    return again


def top_up(c: httpx.Client, placed: dict[str, str], group: tuple[str, str] | None = None) -> int:
    """Schedule single instances one by one until no host is valid; adds them to
    ``placed`` and returns how many there were."""
    count = 0
    while True:
        resp = c.post("/berth/v1/schedule", json=schedule_body(group=group))
        if resp.status_code == 409:
            assert resp.json()["errors"][0]["code"] == NO_VALID_HOST, resp.text
            return count
        for p in ok(resp)["placements"]:
            placed[p["instance_uuid"]] = p["host"]["uuid"]
        count += 1
        assert count <= 100, "the cloud never fills up"


# --- checking the database and the API ----------------------------------------------


def check_cloud(
    store: Store, c: httpx.Client, placed: dict[str, str], preexisting: dict[str, str]
) -> dict[str, int]:
    """The tables hold exactly the placed instances (one flavor each on its host) plus the
    pre-existing consumers, nothing beyond capacity; the API's usages are the sums.
    Returns, per host, how many more instances of the flavor still fit."""
    rp_t, inv_t, alloc_t, rc_t = (
        tables.resource_providers,
        tables.inventories,
        tables.allocations,
        tables.resource_classes,
    )
    with store.read() as conn:
        rows = conn.execute(
            select(alloc_t.c.consumer_id, rp_t.c.uuid, rc_t.c.name, alloc_t.c.used)
            .join(rp_t, rp_t.c.id == alloc_t.c.resource_provider_id)
            .join(rc_t, rc_t.c.id == alloc_t.c.resource_class_id)
        ).all()
        capacity = {
            (rp, rc): int((total - reserved) * ratio)
            for rp, rc, total, reserved, ratio in conn.execute(
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
        consumers = set(conn.scalars(select(tables.consumers.c.uuid)))
        hosts = list(conn.scalars(select(rp_t.c.uuid)))
        summed = {
            (rp, rc): int(n)
            for rp, rc, n in conn.execute(
                select(rp_t.c.uuid, rc_t.c.name, func.sum(alloc_t.c.used))
                .join(rp_t, rp_t.c.id == alloc_t.c.resource_provider_id)
                .join(rc_t, rc_t.c.id == alloc_t.c.resource_class_id)
                .group_by(rp_t.c.uuid, rc_t.c.name)
            )
        }
    stored: dict[str, dict[str, dict[str, int]]] = {}
    for consumer, rp, rc, n in rows:
        stored.setdefault(consumer, {}).setdefault(rp, {})[rc] = n
    new = {consumer: stored.get(consumer) for consumer in placed}
    assert new == {consumer: {rp: PER_INSTANCE} for consumer, rp in placed.items()}
    assert set(stored) == set(placed) | set(preexisting), "allocations nobody was told of"
    assert consumers == set(stored)
    over = {key: (n, capacity.get(key)) for key, n in summed.items() if n > capacity.get(key, 0)}
    assert not over, f"overcommitted: {over}"
    room: dict[str, int] = {}
    for rp in hosts:
        usages = ok(c.get(f"/resource_providers/{rp}/usages"))["usages"]
        assert {rc: n for rc, n in usages.items() if n} == {
            rc: n for (p, rc), n in summed.items() if p == rp
        }, (rp, usages)
        room[rp] = min(
            (capacity[(rp, rc)] - summed.get((rp, rc), 0)) // amount
            for rc, amount in PER_INSTANCE.items()
        )
    return room


def check_group(
    store: Store, c: httpx.Client, group: str, placed: dict[str, str], per_host: int | None
) -> Counter[str]:
    """The group's members are exactly the placed instances, on their hosts, in the API
    and in the table; at most ``per_host`` on a host (all on one host when None)."""
    shown = ok(c.get(f"/berth/v1/server_groups/{group}"))
    members = {m["consumer_uuid"]: m["host_uuid"] for m in shown["members"]}
    assert members == placed
    with store.read() as conn:
        rows = conn.execute(
            select(tables.server_group_members.c.consumer_uuid)
            .join(tables.server_groups)
            .where(tables.server_groups.c.uuid == group)
        ).scalars()
        assert set(rows) == set(placed)
    spread = Counter(placed.values())
    if per_host is None:
        assert len(spread) <= 1, f"affinity broken: {spread}"
    else:
        assert max(spread.values(), default=0) <= per_host, f"anti-affinity broken: {spread}"
    return spread


def report(capsys: pytest.CaptureFixture[str], db_url: str, name: str, **facts: Any) -> None:
    with capsys.disabled():
        backend = make_url(db_url).get_backend_name()
        print(f"\n[{name} {backend}] " + " ".join(f"{k}={v}" for k, v in facts.items()))


def tally(outcomes: list[Outcome]) -> str:
    return str(dict(Counter(o.code or "placed" for o in outcomes)))


# --- the scenarios --------------------------------------------------------------------


@pytest.mark.parametrize(("per_host", "hosts"), [(1, 6), (2, 5)])
def test_racing_into_an_anti_affinity_group(
    servers: list[Server],
    admin: httpx.Client,
    store: Store,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    per_host: int,
    hosts: int,
) -> None:
    """16 clients place one member each into an anti-affinity group (plain, or with
    ``max_server_per_host=2``) on hosts with room for many instances: the rule, not
    capacity, limits the group to ``hosts x per_host`` members, and no host ever holds
    more than ``per_host`` of them."""
    rps = [make_host(admin, f"anti{i}", ROOMY) for i in range(hosts)]
    rules = {"max_server_per_host": per_host} if per_host > 1 else None
    group = (make_group(admin, "anti-affinity", rules), "anti-affinity")
    started = time.monotonic()
    outcomes = race(servers, [schedule_body(group=group) for _ in range(CLIENTS)])
    elapsed = time.monotonic() - started
    slots = hosts * per_host
    placed = hosts_of(outcomes)
    check_cloud(store, admin, placed, {})
    check_group(store, admin, group[0], placed, per_host)
    # The claim re-checks the rule under the group's lock and a lost race re-decides
    # spread over more hosts: nobody runs out of attempts, the race alone fills the group.
    assert not gave_up(outcomes), tally(outcomes)
    assert len(placed) == slots, tally(outcomes)
    if refused(outcomes):
        # "No valid host" only once every host held its share of the group.
        for o in refused(outcomes):
            assert "anti-affinity" in o.answer["errors"][0]["detail"], o.answer
    again = retry_one_by_one(admin, outcomes)
    placed_after = {**placed, **hosts_of(again)}
    assert len(placed_after) == slots, tally(outcomes + again)
    check_cloud(store, admin, placed_after, {})
    spread = check_group(store, admin, group[0], placed_after, per_host)
    assert spread == Counter({rp: per_host for rp in rps})
    report(
        capsys,
        db_url,
        f"anti-affinity x{per_host}",
        race=tally(outcomes),
        then=tally(again),
        seconds=f"{elapsed:.1f}",
    )


def test_racing_into_an_affinity_group(
    servers: list[Server],
    admin: httpx.Client,
    store: Store,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """16 clients place one member each into an empty affinity group on four hosts with
    room for five instances each (VCPU-bound): whichever host the first claim lands on,
    every member is there, and exactly as many as fit."""
    small = {**ROOMY, "VCPU": {"total": 10}}
    rps = [make_host(admin, f"aff{i}", small) for i in range(4)]
    group = (make_group(admin, "affinity"), "affinity")
    started = time.monotonic()
    outcomes = race(servers, [schedule_body(group=group) for _ in range(CLIENTS)])
    elapsed = time.monotonic() - started
    placed = hosts_of(outcomes)
    room = check_cloud(store, admin, placed, {})
    check_group(store, admin, group[0], placed, None)
    assert not gave_up(outcomes), tally(outcomes)
    assert len(placed) == 5, tally(outcomes)
    again = retry_one_by_one(admin, outcomes)
    placed_after = {**placed, **hosts_of(again)}
    room = check_cloud(store, admin, placed_after, {})
    (home,) = set(check_group(store, admin, group[0], placed_after, None))
    assert len(placed_after) == 5, tally(outcomes + again)
    assert room == {rp: 0 if rp == home else 5 for rp in rps}
    report(
        capsys,
        db_url,
        "affinity",
        race=tally(outcomes),
        then=tally(again),
        seconds=f"{elapsed:.1f}",
    )


def _nearly_full(admin: httpx.Client) -> dict[str, str]:
    """Ten hosts with room for 2-3 instances each, four of them with one instance
    already running; returns those instances (consumer -> host)."""
    existing: dict[str, str] = {}
    for i in range(10):
        inventories = {
            # 3 instances by VCPU on the odd hosts through the ratio, 2 on the even ones
            "VCPU": {"total": 4, "reserved": 0, "allocation_ratio": 1.5 if i % 2 else 1.0},
            # 8192 - 1024 reserved: 3 instances by memory
            "MEMORY_MB": {"total": 8192, "reserved": 1024},
            "DISK_GB": {"total": 100},
        }
        rp = make_host(admin, f"full{i}", inventories)
        if i % 3 == 0:  # one instance's worth already running there
            existing[fill(admin, rp, PER_INSTANCE)] = rp
    return existing


def test_racing_into_a_nearly_full_cloud(
    servers: list[Server],
    admin: httpx.Client,
    store: Store,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """16 clients ask for 1, 2 or 3 instances each (all or nothing, no group) on ten
    hosts with 21 free places in all, 31 demanded: nothing overcommitted, every failure
    left nothing behind, and a refusal of ``k`` instances means fewer than ``k`` places
    are left; retried one by one, the leftovers end up exactly full."""
    existing = _nearly_full(admin)
    room = check_cloud(store, admin, {}, existing)
    free = sum(room.values())
    assert free == 21, room
    bodies = [schedule_body(num=1 + n % 3) for n in range(CLIENTS)]
    demand = sum(b["num_instances"] for b in bodies)
    assert demand > free
    started = time.monotonic()
    outcomes = race(servers, bodies)
    elapsed = time.monotonic() - started
    placed = hosts_of(outcomes)
    room = check_cloud(store, admin, placed, existing)
    left = sum(room.values())
    assert left == free - len(placed)
    assert not gave_up(outcomes), tally(outcomes)
    for o in refused(outcomes):
        assert left < o.body["num_instances"], (left, o.body["num_instances"], tally(outcomes))
    again = retry_one_by_one(admin, outcomes)
    placed_after = {**placed, **hosts_of(again)}
    room = check_cloud(store, admin, placed_after, existing)
    left = sum(room.values())
    for o in refused(outcomes + again):
        assert left < o.body["num_instances"], (left, o.body["num_instances"])
    # Single instances fill whatever all-or-nothing batches left: then it is exactly full.
    singles = top_up(admin, placed_after)
    assert singles == left
    assert set(check_cloud(store, admin, placed_after, existing).values()) == {0}
    report(
        capsys,
        db_url,
        "nearly full",
        race=tally(outcomes),
        then=tally(again),
        placed=f"{len(placed)}/{free}",
        demand=demand,
        seconds=f"{elapsed:.1f}",
    )


def test_racing_batches_into_an_anti_affinity_group(
    servers: list[Server],
    admin: httpx.Client,
    store: Store,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """16 clients ask for 3, 1 or 2 members each of one anti-affinity group on nine
    roomy hosts: every member on its own host, a refused batch of ``k`` means fewer than
    ``k`` hosts were left without a member."""
    rps = [make_host(admin, f"batch{i}", ROOMY) for i in range(9)]
    group = (make_group(admin, "anti-affinity"), "anti-affinity")
    bodies = [schedule_body(num=(3, 1, 2)[n % 3], group=group) for n in range(CLIENTS)]
    started = time.monotonic()
    outcomes = race(servers, bodies)
    elapsed = time.monotonic() - started
    placed = hosts_of(outcomes)
    check_cloud(store, admin, placed, {})
    check_group(store, admin, group[0], placed, 1)
    assert not gave_up(outcomes), tally(outcomes)
    for o in refused(outcomes):
        assert len(rps) - len(placed) < o.body["num_instances"], tally(outcomes)
    again = retry_one_by_one(admin, outcomes)
    placed_after = {**placed, **hosts_of(again)}
    check_cloud(store, admin, placed_after, {})
    check_group(store, admin, group[0], placed_after, 1)
    for o in refused(outcomes + again):
        assert len(rps) - len(placed_after) < o.body["num_instances"]
    singles = top_up(admin, placed_after, group)
    assert singles == len(rps) - len(placed) - len(hosts_of(again))
    spread = check_group(store, admin, group[0], placed_after, 1)
    assert spread == Counter({rp: 1 for rp in rps})
    check_cloud(store, admin, placed_after, {})
    report(
        capsys,
        db_url,
        "anti-affinity batches",
        race=tally(outcomes),
        then=tally(again),
        members=f"{len(placed_after)}/{len(rps)}",
        seconds=f"{elapsed:.1f}",
    )
