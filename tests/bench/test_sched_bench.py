"""Smoke test of bench/bench_scheduler.py against berth in-process, on every engine.

The scheduler benchmark's verdict ("0 overcommit, 0 broken groups, every rejection
explained") is only worth something if its checks can fail: this runs every phase on a
small cloud of plain and NFV hosts, expects a clean audit, then corrupts the ledger and
the group record it compares against and expects the audit to say so.
"""

from __future__ import annotations

import httpx
import sched_audit
import sched_cloud
from bench_scheduler import HEADERS, PHASES, Shared, check_explanation, run_phase

from berth.api.app import PlacementApp


def test_every_phase_then_an_audit_that_can_fail(app: PlacementApp, db_url: str) -> None:
    transport = httpx.WSGITransport(app=app)
    cloud = sched_cloud.build(24, 0.5, seed=5)
    load = sched_cloud.load(
        lambda: httpx.Client(base_url="http://berth", headers=HEADERS, transport=transport),
        cloud,
        threads=2,
    )
    assert load["hosts"] == 24 and load["nfv_hosts"] == 12
    shared = Shared()
    results = {}
    # A tiny cloud fills up: a fixed number of steps per client (not a time: a fast
    # machine would fill it), and the phase that places 100 at a time runs last but one.
    order = [n for n in PHASES if n not in ("plain_x100", "no_valid_host")]
    for seed, name in enumerate([*order, "plain_x100", "no_valid_host"], start=1):
        results[name] = run_phase(
            "http://berth",
            shared,
            PHASES[name],
            2,
            30.0,
            seed,
            len(cloud.hosts),
            transport,
            steps=1 if name == "plain_x100" else 2,
        )
    for name, result in results.items():
        assert result["requests"] > 0, name
        assert result["unexplained_answers"] == 0, (name, result["examples"])
        assert set(result["statuses"]) <= {"200", "409"}, (name, result["examples"])
    for name in ("plain", "plain_x100", "pinned", "hugepages_sriov", "anti_affinity"):
        assert results[name]["placements"] > 0, (name, results[name]["examples"])
    assert results["no_valid_host"]["placements"] == 0
    assert results["no_valid_host"]["failure_reasons"]
    audit = sched_audit.audit(db_url, shared.ledger, shared.groups)
    for key in sched_audit.AUDIT_KEYS:
        assert audit[key] == 0, (key, audit["examples"])
    assert audit["assignments_checked"] > 0 and audit["groups_checked"] > 0
    # Now lie to it: one allocation more than answered, one member never acknowledged.
    key = next(iter(shared.ledger))
    shared.ledger[key] += 1
    group = next(iter(shared.groups))
    shared.groups[group][1].add("00000000-0000-0000-0000-000000000000")
    wrong = sched_audit.audit(db_url, shared.ledger, shared.groups)
    assert wrong["allocations_vs_answers_mismatch"] == 1
    assert wrong["group_violations"] == 1


def test_explanation_check_catches_unexplained_hosts() -> None:
    explained = {
        "hosts_total": 3,
        "chosen": [],
        "stages": [{"stage": "placement", "removed": 3, "reasons": {"insufficient VCPU": 3}}],
        "hosts": {"cn-1": [{"stage": "placement", "reason": "insufficient VCPU"}]},
    }
    assert check_explanation({"explanation": explained}, ok=False, named="cn-1") is None
    short = {**explained, "hosts_total": 4}
    assert "explains 3 of 4" in str(check_explanation({"explanation": short}, ok=False))
    blank = {**explained, "stages": [{"stage": "x", "removed": 3, "reasons": {" ": 3}}]}
    assert "without a reason" in str(check_explanation({"explanation": blank}, ok=False))
    assert "named host cn-2" in str(
        check_explanation({"explanation": explained}, ok=False, named="cn-2")
    )
