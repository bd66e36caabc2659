"""The explanation aggregates rejections per stage and keeps full detail for named hosts."""

from __future__ import annotations

from berth.scheduler.explain import Explanation, Rejection


def _insufficient(host_free: int) -> Rejection:
    return Rejection("placement", "insufficient MEMORY_MB", f"needs 4096 MB, {host_free} free")


def test_summary_counts_each_host_once_at_its_first_stage() -> None:
    ex = Explanation(total_hosts=10_000)
    for i in range(7_210):
        ex.reject(f"cn{i}", _insufficient(i))
    for i in range(7_210, 9_310):
        ex.reject(f"cn{i}", Rejection("placement", "lacks HW_CPU_X86_AVX512F"))
    for i in range(9_310, 10_000):
        ex.reject(f"cn{i}", Rejection("ServerGroupAntiAffinityFilter", "would break g1"))
        # a later stage finding another problem does not count the host twice
        ex.reject(f"cn{i}", Rejection("RamFilter", "insufficient RAM"))
    assert ex.removed == 10_000
    assert ex.summary() == (
        "0/10,000 hosts: 7,210 insufficient MEMORY_MB, 2,100 lacks HW_CPU_X86_AVX512F, "
        "690 would break g1"
    )
    stages = {s["stage"]: s["removed"] for s in ex.as_json()["stages"]}
    assert stages == {"placement": 9_310, "ServerGroupAntiAffinityFilter": 690}


def test_explained_hosts_keep_every_reason() -> None:
    ex = Explanation(total_hosts=3, explain_hosts=frozenset({"cn1"}))
    ex.reject("cn1", _insufficient(2048))
    ex.reject("cn1", Rejection("AvailabilityZoneFilter", "not in zone az1", "cn1 is in az2"))
    ex.reject("cn2", _insufficient(10))
    ex.reject("cn2", Rejection("AvailabilityZoneFilter", "not in zone az1"))
    assert [r.stage for r in ex.why_not("cn1")] == ["placement", "AvailabilityZoneFilter"]
    assert ex.why_not("cn1")[0].detail == "needs 4096 MB, 2048 free"
    assert [r.stage for r in ex.why_not("cn2")] == ["placement"]
    assert ex.why_not("cn3") == []
    body = ex.as_json()
    assert body["hosts"]["cn1"][1] == {
        "stage": "AvailabilityZoneFilter",
        "reason": "not in zone az1",
        "detail": "cn1 is in az2",
    }


def test_declared_stages_appear_in_order_even_when_empty() -> None:
    ex = Explanation(total_hosts=2)
    ex.stage("placement")
    ex.stage("ComputeFilter")
    ex.reject_many("placement", "insufficient VCPU", 1)
    ex.chosen.append("cn0")
    body = ex.as_json()
    assert [s["stage"] for s in body["stages"]] == ["placement", "ComputeFilter"]
    assert [s["removed"] for s in body["stages"]] == [1, 0]
    assert body["summary"] == "1/2 hosts: 1 insufficient VCPU"
