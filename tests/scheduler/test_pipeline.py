"""The scheduler end to end on a real database: decide, claim, explain, race.

Every test builds a small cloud through the db layer, asks ``Scheduler.schedule`` and
checks what was claimed in the database afterwards (usages, group members, recorded
assignments), not only what the decision said.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from berth.db import (
    aggregate_metadata,
    aggregates,
    inventories,
    providers,
    server_groups,
    traits,
    usages,
)
from berth.db import topology as db_topology
from berth.db.engine import Store
from berth.model.errors import InvalidError
from berth.model.inventory import Inventory
from berth.model.schedule import Flavor, ScheduleRequest, ServerGroupPolicy, ServerGroupRef
from berth.model.topology import HostCell, HostTopology
from berth.query import feasible, resident
from berth.query.candidates import find_in
from berth.scheduler import claim
from berth.scheduler.config import SchedulerConfig, Strategy
from berth.scheduler.pipeline import materialize
from berth.scheduler.service import Scheduler
from berth.scheduler.specs import translate

PROJECT = "p1"
SMALL = Flavor(name="small", vcpus=2, memory_mb=2048, root_gb=10)


def _host(
    store: Store,
    name: str,
    *,
    vcpu: int = 16,
    memory_mb: int = 32768,
    disk_gb: int = 500,
    extra_traits: Sequence[str] = (),
    aggs: Sequence[str] = (),
) -> str:
    rp = str(uuid.uuid4())
    with store.write() as conn:
        created = providers.create(conn, uuid=rp, name=name, parent_uuid=None)
        inventories.replace(
            conn,
            created.id,
            {
                "VCPU": Inventory(vcpu, allocation_ratio=1.0),
                "MEMORY_MB": Inventory(memory_mb),
                "DISK_GB": Inventory(disk_gb),
            },
        )
        if extra_traits:
            for t in extra_traits:
                traits.ensure(conn, t)
            traits.set_provider_traits(conn, created.id, extra_traits)
        if aggs:
            aggregates.set_for_provider(conn, created.id, list(aggs))
    return rp


def _request(
    flavor: Flavor = SMALL,
    *,
    n: int = 1,
    group: str | None = None,
    policy: ServerGroupPolicy = ServerGroupPolicy.ANTI_AFFINITY,
    **kw: object,
) -> ScheduleRequest:
    ref = ServerGroupRef(policy=policy, uuid=group) if group else None
    return ScheduleRequest(
        flavor=flavor,
        project_id=PROJECT,
        user_id="u1",
        num_instances=n,
        server_group=ref,
        **kw,  # type: ignore[arg-type]
    )


def _group(store: Store, policy: str, max_per_host: int | None = None) -> str:
    gid = str(uuid.uuid4())
    with store.write() as conn:
        server_groups.create(
            conn,
            uuid=gid,
            name=f"g-{gid[:8]}",
            project_id=PROJECT,
            user_id="u1",
            policy=policy,
            max_server_per_host=max_per_host,
        )
    return gid


def _used(store: Store, rp: str) -> dict[str, int]:
    with store.read() as conn:
        pid = providers.get(conn, rp).id
        return {rc: n for rc, n in usages.provider_usages(conn, pid).items() if n}


def test_spread_picks_the_emptiest_host_and_claims(store: Store) -> None:
    small = _host(store, "cn-small", memory_mb=8192)
    big = _host(store, "cn-big", memory_mb=65536)
    decision = Scheduler(store).schedule(_request())
    assert decision.ok and decision.claimed
    assert [p.host_uuid for p in decision.placements] == [big]
    assert _used(store, big) == {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 10}
    assert _used(store, small) == {}


def test_pack_picks_the_fullest_host(store: Store) -> None:
    small = _host(store, "cn-small", memory_mb=8192)
    _host(store, "cn-big", memory_mb=65536)
    config = SchedulerConfig(strategy=Strategy.PACK)
    decision = Scheduler(store, config).schedule(_request())
    assert [p.host_uuid for p in decision.placements] == [small]


def test_no_valid_host_explains_every_host(store: Store) -> None:
    for i in range(5):
        _host(store, f"cn{i}", memory_mb=1024)
    _host(store, "cn-disabled", extra_traits=["COMPUTE_STATUS_DISABLED"])
    request = _request(explain_hosts=("cn0", "cn-disabled"))
    decision = Scheduler(store).schedule(request)
    assert not decision.ok and not decision.claimed
    ex = decision.explanation
    assert ex.summary() == (
        "0/6 hosts: 5 insufficient MEMORY_MB, 1 compute service disabled (COMPUTE_STATUS_DISABLED)"
    )
    assert [(r.stage, r.reason) for r in ex.why_not("cn0")] == [
        ("placement", "insufficient MEMORY_MB")
    ]
    assert ex.why_not("cn-disabled")[0].stage == "ComputeFilter"
    assert "COMPUTE_STATUS_DISABLED" in ex.why_not("cn-disabled")[0].detail


def test_dry_run_claims_nothing(store: Store) -> None:
    rp = _host(store, "cn0")
    decision = Scheduler(store).schedule(_request(dry_run=True))
    assert decision.ok and not decision.claimed
    assert decision.placements[0].host_uuid == rp
    assert _used(store, rp) == {}


def test_availability_zone_and_tenant_isolation(store: Store) -> None:
    az1, reserved = str(uuid.uuid4()), str(uuid.uuid4())
    with store.write() as conn:
        aggregate_metadata.set_metadata(conn, az1, "zone-1", {"availability_zone": "az1"})
        aggregate_metadata.set_metadata(conn, reserved, "res", {"filter_tenant_id": "other"})
    in_zone = _host(store, "cn-az1", aggs=[az1])
    _host(store, "cn-default")
    _host(store, "cn-az1-reserved", aggs=[az1, reserved], memory_mb=99999)
    decision = Scheduler(store).schedule(_request(availability_zone="az1"))
    assert [p.host_uuid for p in decision.placements] == [in_zone]
    reasons = {s["stage"]: s["reasons"] for s in decision.explanation.as_json()["stages"]}
    assert reasons["AvailabilityZoneFilter"] == {"not in availability zone az1": 1}
    assert reasons["AggregateMultiTenancyIsolation"] == {"reserved for other projects than p1": 1}


def test_anti_affinity_among_the_instances_of_one_request(store: Store) -> None:
    hosts = [_host(store, f"cn{i}") for i in range(3)]
    group = _group(store, "anti-affinity")
    decision = Scheduler(store).schedule(_request(n=3, group=group))
    assert decision.ok
    assert sorted(p.host_uuid for p in decision.placements) == sorted(hosts)
    # A fourth member fits nowhere: refused, nothing more claimed.
    again = Scheduler(store).schedule(_request(n=1, group=group))
    assert not again.ok
    assert again.explanation.summary().endswith(
        f"3 would break anti-affinity of group g-{group[:8]}"
    )
    with store.read() as conn:
        members = server_groups.members(conn, [server_groups.get(conn, group).id])
    assert len(next(iter(members.values()))) == 3


def test_all_or_nothing(store: Store) -> None:
    hosts = [_host(store, f"cn{i}") for i in range(2)]
    group = _group(store, "anti-affinity")
    decision = Scheduler(store).schedule(_request(n=3, group=group))
    assert not decision.ok and decision.failed_instance == 2
    assert all(_used(store, rp) == {} for rp in hosts)


def test_max_server_per_host_and_affinity(store: Store) -> None:
    hosts = [_host(store, f"cn{i}") for i in range(2)]
    limited = _group(store, "anti-affinity", max_per_host=2)
    decision = Scheduler(store).schedule(_request(n=4, group=limited))
    assert Counter(p.host_uuid for p in decision.placements) == Counter({h: 2 for h in hosts})
    together = _group(store, "affinity")
    first = Scheduler(store).schedule(
        _request(n=2, group=together, policy=ServerGroupPolicy.AFFINITY)
    )
    assert len({p.host_uuid for p in first.placements}) == 1


def test_unknown_group_is_a_clear_400(store: Store) -> None:
    _host(store, "cn0")
    with pytest.raises(InvalidError, match=r"server_group .* does not exist"):
        Scheduler(store).schedule(_request(group=str(uuid.uuid4())))


def _numa_host(store: Store, name: str) -> str:
    rp = _host(store, name, vcpu=1, memory_mb=1)  # the topology sets VCPU/PCPU/MEMORY_MB
    cells = tuple(
        HostCell(
            id=c,
            shared_cpus=frozenset({c * 8}),
            dedicated_cpus=frozenset(range(c * 8 + 1, c * 8 + 8)),
            memory_mb=16384,
            siblings=(),
        )
        for c in range(2)
    )
    db_topology.save(store, rp, HostTopology(cells=cells))
    return rp


def test_pinned_guests_get_distinct_cpus(store: Store) -> None:
    """Two cells of 7 dedicated CPUs: a 4-CPU pinned guest (one implicit NUMA cell) fits
    once per cell. Placement alone would accept a third (12 of 14 PCPU); the NUMA filter
    refuses it and says so."""
    rp = _numa_host(store, "nfv0")
    pinned = Flavor(
        name="pinned", vcpus=4, memory_mb=2048, extra_specs=(("hw:cpu_policy", "dedicated"),)
    )
    scheduler = Scheduler(store)
    seen: set[int] = set()
    cells: set[int] = set()
    for _ in range(2):
        decision = scheduler.schedule(_request(pinned))
        assert decision.ok, decision.explanation.summary()
        (placement,) = decision.placements
        assert placement.host_uuid == rp and placement.assignment is not None
        (cell,) = placement.assignment.cells
        cpus = {h for _, h in cell.pinning}
        assert len(cpus) == 4 and not cpus & seen
        seen |= cpus
        cells.add(cell.host_cell)
    assert cells == {0, 1}
    assert _used(store, rp)["PCPU"] == 8
    last = scheduler.schedule(_request(pinned, explain_hosts=("nfv0",)))
    assert not last.ok
    (why,) = last.explanation.why_not("nfv0")
    assert why.stage == "NUMATopologyFilter"
    assert why.reason.startswith("NUMA: numa.")
    assert "4 dedicated CPUs" in why.detail
    assert _used(store, rp)["PCPU"] == 8


def test_a_claim_whose_cpus_were_taken_refits_on_the_locked_host(store: Store) -> None:
    """Two schedulers decide on the same state and pick the same host and the same
    CPUs. The second claim must not pin a CPU twice: it fits the guest again on the host
    (locked by its claim) and commits the other cell's CPUs instead of losing the race."""
    rp = _numa_host(store, "nfv0")
    pinned = Flavor(
        name="pinned", vcpus=4, memory_mb=2048, extra_specs=(("hw:cpu_policy", "dedicated"),)
    )
    scheduler = Scheduler(store)
    spec = translate(_request(pinned), {})
    first = scheduler.pipeline.decide(store, _request(pinned), spec)
    second = scheduler.pipeline.decide(store, _request(pinned), spec)
    assert first.ok and second.ok
    a, b = first.placements[0].assignment, second.placements[0].assignment
    assert a is not None and b is not None and a.cells == b.cells  # the same CPUs
    claim.commit(store, _request(pinned), spec.guest, first)
    claim.commit(store, _request(pinned), spec.guest, second)
    (cell_a,) = first.placements[0].assignment.cells  # type: ignore[union-attr]
    (cell_b,) = second.placements[0].assignment.cells  # type: ignore[union-attr]
    cpus_a = {h for _, h in cell_a.pinning}
    cpus_b = {h for _, h in cell_b.pinning}
    assert len(cpus_a) == len(cpus_b) == 4 and not cpus_a & cpus_b
    assert cell_a.host_cell != cell_b.host_cell
    assert _used(store, rp)["PCPU"] == 8
    with store.read() as conn:
        held = db_topology.usage(conn, [providers.get(conn, rp).id])
    pinned_now = {
        cpu for c in held[providers_id(store, rp)].cells.values() for cpu in c.pinned_cpus
    }
    assert pinned_now == cpus_a | cpus_b
    # A third request finds both cells taken.
    third = scheduler.pipeline.decide(store, _request(pinned), spec)
    assert not third.ok


def providers_id(store: Store, rp: str) -> int:
    with store.read() as conn:
        return providers.get(conn, rp).id


def test_io_ops_weigher_steers_away_from_recent_claims(store: Store) -> None:
    """With only the IoOpsWeigher on (Nova's -1.0), equal hosts take turns: a host that
    just got a claim ranks below one that did not, as seen through the change log."""
    for name in ("h0", "h1", "h2"):
        _host(store, name)
    weights = dict.fromkeys(SchedulerConfig().weights, 0.0) | {"IoOpsWeigher": -1.0}
    scheduler = Scheduler(store, SchedulerConfig(weights=weights))
    chosen = [scheduler.schedule(_request()).placements[0].host_name for _ in range(3)]
    assert sorted(chosen) == ["h0", "h1", "h2"]
    # Within one request the planned instances count as well.
    three = scheduler.schedule(_request(n=3))
    assert sorted(p.host_name for p in three.placements) == ["h0", "h1", "h2"]


def test_materialize_matches_the_engine(store: Store) -> None:
    """The direct path for one-provider hosts gives exactly what the engine restricted to
    the host gives: the root's allocation when it fits, nothing when it does not; and a
    host a sharing provider serves goes through the engine (its disk may come from the
    share)."""
    _host(store, "roomy")
    _host(store, "tight", memory_mb=1024)
    agg = str(uuid.uuid4())
    _host(store, "shared-disk", disk_gb=1, aggs=[agg])
    share = _host(
        store,
        "nfs",
        vcpu=0,
        memory_mb=0,
        disk_gb=1000,
        aggs=[agg],
        extra_traits=["MISC_SHARES_VIA_AGGREGATE"],
    )
    spec = translate(_request(SMALL), {})
    query = replace(spec.candidate_request(limit=None), limit=1)
    with resident.for_store(store).reading() as (_, index):
        for root in feasible.host_roots(index).tolist():
            direct = materialize(index, query, int(root))
            engine = list(find_in(index, query, anchors=np.array([root])).allocation_requests)
            assert direct == engine, index.node(int(root)).name
        by_name = {index.node(int(r)).name: int(r) for r in feasible.host_roots(index)}
        assert by_name["shared-disk"] in feasible.shared_roots(index)
        assert by_name["roomy"] not in feasible.shared_roots(index)
        (got,) = materialize(index, query, by_name["roomy"])
        assert {a.resource_class for a in got.allocations} == {"VCPU", "MEMORY_MB", "DISK_GB"}
        assert materialize(index, query, by_name["tight"]) == []
        (via_share,) = materialize(index, query, by_name["shared-disk"])
        disk = [a for a in via_share.allocations if a.resource_class == "DISK_GB"]
        assert [index.node(a.provider_id).uuid for a in disk] == [share]


def test_eight_racing_schedulers_never_break_anti_affinity(db_url: str) -> None:
    """Eight workers, each with its own engine and resident index (as separate scheduler
    processes would have), place members of one anti-affinity group at once onto a
    cloud with room for only six: exactly six succeed, on six different hosts."""
    setup = Store.from_url(db_url)
    hosts = [_host(setup, f"cn{i}") for i in range(6)]
    group = _group(setup, "anti-affinity")
    barrier = threading.Barrier(8)
    results: list[bool] = []
    errors: list[BaseException] = []

    def worker() -> None:
        store = Store.from_url(db_url)
        try:
            scheduler = Scheduler(store, SchedulerConfig(max_attempts=12))
            barrier.wait()
            results.append(scheduler.schedule(_request(group=group)).ok)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            store.dispose()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(results) == [False, False] + [True] * 6
    with setup.read() as conn:
        members = server_groups.members(conn, [server_groups.get(conn, group).id])
    roots = [root for _, root in next(iter(members.values()))]
    assert len(roots) == 6 and len(set(roots)) == 6
    for rp in hosts:
        assert _used(setup, rp) == {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 10}
    setup.dispose()
