"""Requests decided and claimed together: ``Scheduler.schedule_many`` and ``Admission``.

A batch is decided on one refresh of the index and claimed in one transaction, so each
request must see what the requests before it in the batch planned (capacity, group
members), a request that cannot be placed must take back what its first instances
charged, and one bad request must not cost the others anything. Every check reads the
database afterwards.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence

import numpy as np

from berth.db import server_groups
from berth.db.engine import Store
from berth.model.cloud import Cloud
from berth.model.errors import ConflictError, DomainError, InvalidError
from berth.model.schedule import ScheduleRequest
from berth.query.index import CloudIndex
from berth.scheduler.admission import Admission
from berth.scheduler.config import SchedulerConfig
from berth.scheduler.hosts import FloatArray, Hosts
from berth.scheduler.pipeline import Decision
from berth.scheduler.protocols import Context
from berth.scheduler.scoreboard import Scoreboard
from berth.scheduler.service import Scheduler
from berth.scheduler.weighing import rank
from scheduler.test_pipeline import SMALL, _group, _host, _request, _used


def _placed(answer: Decision | DomainError) -> list[str]:
    assert isinstance(answer, Decision) and answer.ok and answer.claimed, answer
    return [p.host_uuid for p in answer.placements]


def test_a_batch_sees_what_the_requests_before_it_planned(store: Store) -> None:
    # Room for exactly one SMALL each: the second request must not pick the first's host.
    a = _host(store, "cn-a", memory_mb=2048)
    b = _host(store, "cn-b", memory_mb=2048)
    first, second, third = Scheduler(store).schedule_many([_request(), _request(), _request()])
    assert sorted(_placed(first) + _placed(second)) == sorted([a, b])
    assert isinstance(third, Decision) and not third.ok and not third.claimed
    assert third.explanation.removed == 2  # both hosts explained
    assert _used(store, a)["MEMORY_MB"] == 2048 and _used(store, b)["MEMORY_MB"] == 2048


def test_a_request_that_fails_takes_back_its_first_instances(store: Store) -> None:
    hosts = [_host(store, f"cn{i}", memory_mb=2048 * (i + 1)) for i in range(2)]  # room: 3
    too_many, fits = Scheduler(store).schedule_many([_request(n=4), _request(n=3)])
    assert isinstance(too_many, Decision) and not too_many.ok
    assert too_many.failed_instance == 3
    # Had the first request's three planned instances stayed charged, this would fail.
    assert sorted(_placed(fits)) == sorted([hosts[0], hosts[1], hosts[1]])


def test_anti_affinity_holds_across_the_requests_of_one_batch(store: Store) -> None:
    hosts = [_host(store, f"cn{i}") for i in range(3)]
    group = _group(store, "anti-affinity")
    answers = Scheduler(store).schedule_many([_request(group=group) for _ in range(4)])
    placed = [h for answer in answers[:3] for h in _placed(answer)]
    assert sorted(placed) == sorted(hosts)
    last = answers[3]
    assert isinstance(last, Decision) and not last.ok
    assert last.explanation.summary().endswith(
        f"3 would break anti-affinity of group g-{group[:8]}"
    )
    with store.read() as conn:
        members = server_groups.members(conn, [server_groups.get(conn, group).id])
    assert len(next(iter(members.values()))) == 3


def test_a_bad_request_gets_its_own_error_and_the_others_are_placed(store: Store) -> None:
    host = _host(store, "cn0")
    unknown = _request(group=str(uuid.uuid4()))
    twice = str(uuid.uuid4())
    answers = Scheduler(store, SchedulerConfig(max_attempts=2)).schedule_many(
        [
            _request(),
            unknown,
            _request(instance_uuids=(twice,)),
            _request(instance_uuids=(twice,)),  # the same instance again: its claim fails
        ]
    )
    assert _placed(answers[0]) == [host]
    assert isinstance(answers[1], InvalidError)
    assert _placed(answers[2]) == [host]
    assert isinstance(answers[3], ConflictError)
    assert _used(store, host)["VCPU"] == 2 * SMALL.vcpus


class _HeldScheduler(Scheduler):
    """A real scheduler whose first batch waits until ``expected`` more requests queued
    behind it, so the test knows they will be decided together."""

    def __init__(self, store: Store, admission: list[Admission], expected: int) -> None:
        super().__init__(store)
        self.admission = admission
        self.expected = expected
        self.sizes: list[int] = []

    def schedule_many(self, requests: Sequence[ScheduleRequest]) -> list[Decision | DomainError]:
        if not self.sizes:
            while len(self.admission[0]._queue) < self.expected:
                threading.Event().wait(0.001)
        self.sizes.append(len(requests))
        return super().schedule_many(requests)


def test_admission_batches_the_requests_that_queued_meanwhile(store: Store) -> None:
    hosts = [_host(store, f"cn{i}", memory_mb=4096) for i in range(6)]  # room: 2 each
    holder: list[Admission] = []
    scheduler = _HeldScheduler(store, holder, expected=11)
    admission = Admission(scheduler)
    holder.append(admission)
    answers: list[Decision | BaseException] = []
    lock = threading.Lock()

    def submit() -> None:
        try:
            got: Decision | BaseException = admission.submit(_request())
        except BaseException as exc:
            got = exc
        with lock:
            answers.append(got)

    threads = [threading.Thread(target=submit) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert scheduler.sizes == [1, 11]  # the first alone, the rest in one batch
    assert admission.batches == 2 and admission.requests == 12
    placed = [h for answer in answers for h in _placed(answer)]  # type: ignore[arg-type]
    assert sorted(placed) == sorted(hosts * 2)
    assert all(_used(store, h)["MEMORY_MB"] == 4096 for h in hosts)
    # The cloud is full now: the next request is refused and explained, not queued forever.
    refused = admission.submit(_request())
    assert not refused.ok and refused.explanation.removed == 6


def test_dry_runs_bypass_the_queue_and_claim_nothing(store: Store) -> None:
    host = _host(store, "cn0")
    admission = Admission(Scheduler(store))
    decision = admission.submit(_request(dry_run=True))
    assert decision.ok and not decision.claimed and admission.batches == 0
    assert _used(store, host) == {}


class _Column:
    """A test weigher reading a mutable column: the raw value of each host."""

    reads_group = False

    def __init__(self, name: str, values: dict[int, float]) -> None:
        self.name = name
        self.values = values

    def weigh(self, hosts: Hosts, ctx: Context) -> FloatArray:
        return np.array([self.values[r] for r in hosts.roots.tolist()], dtype=np.float64)


def test_scoreboard_ranks_exactly_like_weighing_everything_again() -> None:
    rng = np.random.default_rng(7)
    roots = np.arange(1, 201, dtype=np.int64)
    columns = [
        {int(r): float(v) for r, v in zip(roots, rng.integers(0, 50, len(roots)), strict=True)}
        for _ in range(3)
    ]
    weighers = [
        (_Column(f"w{k}", col), m)
        for k, (col, m) in enumerate(zip(columns, (1.0, -1.0, 2.5), strict=True))
    ]
    hosts = Hosts(CloudIndex(Cloud(nodes={})), roots)
    ctx = Context.__new__(Context)  # the test weighers read nothing from it
    board = Scoreboard(weighers, hosts, ctx)  # type: ignore[arg-type]
    for step in range(60):
        changed = rng.choice(roots, size=3, replace=False).tolist()
        for col in columns:
            for r in changed:
                # Sometimes the current minimum or maximum moves (the rescan path).
                col[r] = float(rng.integers(-5, 60)) if step % 3 else max(col.values()) + 1
        board.touch(changed)
        keep = rng.random(len(roots)) > 0.2 if step % 2 else np.ones(len(roots), dtype=bool)
        survivors = hosts.subset(keep)
        got = board.rank(survivors, ctx)
        want = rank(survivors, [(w.name, m, w.weigh(survivors, ctx)) for w, m in weighers])
        np.testing.assert_allclose(got.total, want.total, rtol=1e-9, atol=1e-9)
        best = next(got.best_first())
        assert best == next(want.best_first())
        assert got.breakdown(best) == want.breakdown(best)
