"""The candidate engine on small hand-built clouds: one rule per test, answers by name."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from berth.model.candidates import CandidateRequest, CandidateResult, RequestGroup
from berth.model.cloud import SHARES_VIA_AGGREGATE as SHARES
from berth.model.filters import AggregateFilter, TraitFilter
from berth.model.inventory import Inventory
from berth.query import candidates
from berth.query.index import CloudIndex
from query.cloudgen import CloudSpec, P, provider_uuid

AGG = "aaaaaaaa-0000-0000-0000-000000000001"
AGG2 = "aaaaaaaa-0000-0000-0000-000000000002"


def inv(total: int, **kw: int | float) -> Inventory:
    return Inventory(total=total, **kw)  # type: ignore[arg-type]


def group(suffix: str = "", traits: TraitFilter | None = None, **resources: int) -> RequestGroup:
    return RequestGroup(suffix=suffix, resources=resources, traits=traits or TraitFilter())


def ask(spec: CloudSpec, *groups: RequestGroup, **kw: object) -> CandidateResult:
    return candidates.find(spec.cloud(), CandidateRequest(groups=groups, **kw))  # type: ignore[arg-type]


def picks(result: CandidateResult) -> list[dict[tuple[int, str], int]]:
    """Each candidate as {(provider index, class): amount}, for readable asserts."""
    out = []
    for areq in result.allocation_requests:
        out.append({(a.provider_id - 1, a.resource_class): a.amount for a in areq.allocations})
    return out


def summary_indexes(result: CandidateResult) -> set[int]:
    return {s.provider_id - 1 for s in result.provider_summaries}


@pytest.fixture
def shared_disk() -> CloudSpec:
    """cn0 (VCPU) and cn1 (VCPU, DISK) share agg with ss2 (DISK, sharing); ss3 shares
    via a *child* of cn0 only."""
    return CloudSpec(
        [
            P(inventory={"VCPU": inv(4)}, aggs=frozenset({AGG})),
            P(inventory={"VCPU": inv(4), "DISK_GB": inv(100)}, aggs=frozenset({AGG})),
            P(inventory={"DISK_GB": inv(100)}, traits=(SHARES,), aggs=frozenset({AGG})),
            P(inventory={"DISK_GB": inv(100)}, traits=(SHARES,), aggs=frozenset({AGG2})),
            P(parent=0, aggs=frozenset({AGG2})),
        ]
    )


def test_sharing_provider_serves_trees_sharing_an_aggregate(shared_disk: CloudSpec) -> None:
    result = ask(shared_disk, group(VCPU=1, DISK_GB=10))
    assert sorted(map(sorted, (p.items() for p in picks(result)))) == sorted(
        map(
            sorted,
            (
                {(0, "VCPU"): 1, (2, "DISK_GB"): 10}.items(),
                # ss3 shares an aggregate with cn0's child: it serves the whole cn0 tree.
                {(0, "VCPU"): 1, (3, "DISK_GB"): 10}.items(),
                {(1, "VCPU"): 1, (1, "DISK_GB"): 10}.items(),
                {(1, "VCPU"): 1, (2, "DISK_GB"): 10}.items(),
            ),
        )
    )


def test_same_allocation_from_several_anchors_is_one_candidate(shared_disk: CloudSpec) -> None:
    result = ask(shared_disk, group(DISK_GB=10))
    assert sorted(picks(result), key=str) == sorted(
        [{(1, "DISK_GB"): 10}, {(2, "DISK_GB"): 10}, {(3, "DISK_GB"): 10}], key=str
    )


def test_granular_sharing_group_isolated_from_compute(shared_disk: CloudSpec) -> None:
    result = ask(shared_disk, group("_C", VCPU=1), group("_D", DISK_GB=10), group_policy="isolate")
    # cn0+ss2, cn0+ss3, cn1+ss2; never cn1 alone (isolated groups need two providers).
    assert len(picks(result)) == 3
    assert {(1, "VCPU"): 1, (1, "DISK_GB"): 10} not in picks(result)
    together = ask(shared_disk, group("_C", VCPU=1), group("_D", DISK_GB=10), group_policy="none")
    assert {(1, "VCPU"): 1, (1, "DISK_GB"): 10} in picks(together)
    assert len(picks(together)) == 4


@pytest.fixture
def numa() -> CloudSpec:
    """cn0 <- numa1 (VCPU, FOO-less), cn0 <- numa2 (VCPU, AVX) <- pf3 (VF); cn4 (VCPU)."""
    return CloudSpec(
        [
            P(traits=("HW_NUMA_ROOT",)),
            P(parent=0, inventory={"VCPU": inv(2)}),
            P(parent=0, inventory={"VCPU": inv(2)}, traits=("HW_CPU_X86_AVX",)),
            P(parent=2, inventory={"SRIOV_NET_VF": inv(4)}),
            P(inventory={"VCPU": inv(8), "SRIOV_NET_VF": inv(2)}),
        ]
    )


def test_unsuffixed_traits_are_met_by_the_providers_used_together(numa: CloudSpec) -> None:
    avx = TraitFilter(required=frozenset({"HW_CPU_X86_AVX"}))
    result = ask(numa, group(traits=avx, VCPU=1, SRIOV_NET_VF=1))
    # Only numa2 has AVX: numa1's VCPU with pf3's VF lacks it; cn4 lacks it.
    assert picks(result) == [{(2, "VCPU"): 1, (3, "SRIOV_NET_VF"): 1}]


def test_forbidden_trait_excludes_any_provider_used(numa: CloudSpec) -> None:
    no_avx = TraitFilter(forbidden=frozenset({"HW_CPU_X86_AVX"}))
    result = ask(numa, group(traits=no_avx, VCPU=1))
    assert sorted(p for c in picks(result) for p, _ in c) == [1, 4]


def test_root_required_filters_anchors(numa: CloudSpec) -> None:
    result = ask(numa, group(VCPU=1), root_traits=TraitFilter(required=frozenset({"HW_NUMA_ROOT"})))
    assert sorted(p for c in picks(result) for p, _ in c) == [1, 2]
    result = ask(
        numa, group(VCPU=1), root_traits=TraitFilter(forbidden=frozenset({"HW_NUMA_ROOT"}))
    )
    assert picks(result) == [{(4, "VCPU"): 1}]


def test_nested_candidates_only_from_1_29(numa: CloudSpec) -> None:
    nested = ask(numa, group(VCPU=1, SRIOV_NET_VF=1))
    assert len(picks(nested)) == 3
    # All five providers of both trees are summarized, parents without inventory too.
    assert summary_indexes(nested) == {0, 1, 2, 3, 4}
    flat = ask(numa, group(VCPU=1, SRIOV_NET_VF=1), nested_aware=False)
    assert picks(flat) == [{(4, "VCPU"): 1, (4, "SRIOV_NET_VF"): 1}]
    assert summary_indexes(flat) == {4}
    # One provider of a tree alone is fine before 1.29.
    assert len(picks(ask(numa, group(SRIOV_NET_VF=1), nested_aware=False))) == 2


def test_same_subtree_needs_a_common_provider_among_the_groups(numa: CloudSpec) -> None:
    cpu, vf = group("_CPU", VCPU=1), group("_VF", SRIOV_NET_VF=1)
    loose = ask(numa, cpu, vf, group_policy="none")
    assert len(picks(loose)) == 3
    tight = ask(numa, cpu, vf, group_policy="none", same_subtrees=(("_CPU", "_VF"),))
    # numa2 is pf3's parent; cn4 gives both itself; numa1 and pf3 are only cousins.
    assert sorted(picks(tight), key=str) == sorted(
        [{(2, "VCPU"): 1, (3, "SRIOV_NET_VF"): 1}, {(4, "VCPU"): 1, (4, "SRIOV_NET_VF"): 1}],
        key=str,
    )


def test_resourceless_group_names_a_provider(numa: CloudSpec) -> None:
    root = RequestGroup(suffix="_R", traits=TraitFilter(required=frozenset({"HW_NUMA_ROOT"})))
    result = ask(
        numa, group("_CPU", VCPU=1), root, group_policy="none", same_subtrees=(("_R", "_CPU"),)
    )
    assert sorted(picks(result), key=str) == sorted([{(1, "VCPU"): 1}, {(2, "VCPU"): 1}], key=str)
    mappings = [dict(a.mappings) for a in result.allocation_requests]
    assert all(m["_R"] == (1,) for m in mappings)  # provider ids are index + 1


def test_combined_groups_respect_capacity_and_max_unit() -> None:
    spec = CloudSpec([P(inventory={"VGPU": inv(4, max_unit=2)}), P(inventory={"VGPU": inv(3)})])
    result = ask(spec, group(VGPU=1), group("_A", VGPU=1), group("_B", VGPU=1), group_policy="none")
    # 3 on one provider: over max_unit on rp0, exactly capacity on rp1.
    assert {(1, "VGPU"): 3} in picks(result)
    assert {(0, "VGPU"): 3} not in picks(result)
    assert all(sum(p.values()) == 3 for p in picks(result))


def test_member_of_on_root_spans_tree_only_for_unsuffixed() -> None:
    spec = CloudSpec([P(aggs=frozenset({AGG})), P(parent=0, inventory={"VCPU": inv(4)})])
    in_agg = AggregateFilter(any_of=(frozenset({AGG}),))
    unsuffixed = RequestGroup("", {"VCPU": 1}, member_of=in_agg)
    granular = RequestGroup("_1", {"VCPU": 1}, member_of=in_agg)
    assert len(picks(ask(spec, unsuffixed))) == 1
    assert picks(ask(spec, granular)) == []
    not_agg = RequestGroup("", {"VCPU": 1}, member_of=AggregateFilter(forbidden=frozenset({AGG})))
    assert picks(ask(spec, not_agg)) == []


def test_in_tree_restricts_and_unknown_tree_matches_nothing(shared_disk: CloudSpec) -> None:
    here = RequestGroup("", {"VCPU": 1, "DISK_GB": 1}, in_tree=provider_uuid(1))
    assert picks(ask(shared_disk, here)) == [{(1, "VCPU"): 1, (1, "DISK_GB"): 1}]
    nowhere = RequestGroup("", {"VCPU": 1}, in_tree=provider_uuid(99))
    assert picks(ask(shared_disk, nowhere)) == []


def test_usage_and_units_limit_what_fits() -> None:
    spec = CloudSpec(
        [
            P(inventory={"MEMORY_MB": inv(2048, min_unit=512, step_size=256)}),
            P(inventory={"MEMORY_MB": inv(2048, reserved=1024)}, used={"MEMORY_MB": 512}),
        ]
    )
    assert len(picks(ask(spec, group(MEMORY_MB=768)))) == 1  # rp1: 512 free
    assert len(picks(ask(spec, group(MEMORY_MB=512)))) == 2
    assert picks(ask(spec, group(MEMORY_MB=256))) == [{(1, "MEMORY_MB"): 256}]  # min_unit
    assert picks(ask(spec, group(MEMORY_MB=600))) == []  # step_size / free space


def _count_searches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    searched: list[int] = []
    real = candidates.search_anchor

    def counting(*args: object) -> Iterator[object]:
        searched.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(candidates, "search_anchor", counting)
    return searched


def test_limit_stops_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two VCPU providers per tree: every anchor needs the search (two candidates each).
    spec = CloudSpec(
        [p for i in range(100) for p in (P(), *[P(parent=3 * i, inventory={"VCPU": inv(8)})] * 2)]
    )
    searched = _count_searches(monkeypatch)
    result = ask(spec, group(VCPU=1), limit=3)
    assert len(result.allocation_requests) == 3
    assert len(searched) == 2
    assert summary_indexes(result) == {0, 1, 2, 3, 4, 5}


def test_one_option_per_class_is_solved_without_search(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = CloudSpec([P(inventory={"VCPU": inv(8), "DISK_GB": inv(10)}) for _ in range(200)])
    searched = _count_searches(monkeypatch)
    result = ask(spec, group(VCPU=1, DISK_GB=1), limit=3)
    assert picks(result) == [{(i, "VCPU"): 1, (i, "DISK_GB"): 1} for i in range(3)]
    assert summary_indexes(result) == {0, 1, 2}
    assert len(ask(spec, group(VCPU=1, DISK_GB=1)).allocation_requests) == 200
    assert not searched


def test_isolate_search_is_pruned_not_filtered() -> None:
    """Ten isolated groups over ten providers: 10! placements would be 3.6M; the pruned
    search only ever extends valid partial placements, and a limit makes it instant."""
    spec = CloudSpec([P(inventory={"VCPU": inv(1)}) for _ in range(10)])
    groups = [group(f"_{i}", VCPU=1) for i in range(10)]
    result = ask(spec, *groups, group_policy="isolate", limit=5)
    assert len(result.allocation_requests) == 0  # ten groups cannot share one root's tree
    single_tree = CloudSpec([P()] + [P(parent=0, inventory={"VCPU": inv(1)}) for _ in range(10)])
    result = ask(single_tree, *groups, group_policy="isolate", limit=5)
    assert len(result.allocation_requests) == 5


def test_anchors_restrict_the_search_to_those_trees(shared_disk: CloudSpec) -> None:
    index = CloudIndex(shared_disk.cloud())
    request = CandidateRequest(groups=(group(VCPU=1, DISK_GB=10),))
    everything = picks(candidates.find_in(index, request))
    cn1 = candidates.find_in(index, request, anchors=np.array([2], dtype=np.int64))
    assert picks(cn1) == [
        {(1, "VCPU"): 1, (1, "DISK_GB"): 10},
        {(1, "VCPU"): 1, (2, "DISK_GB"): 10},
    ]
    assert summary_indexes(cn1) == {1, 2}
    cn0 = candidates.find_in(index, request, anchors=np.array([1], dtype=np.int64))
    assert picks(cn0) + picks(cn1) == everything
    nowhere = candidates.find_in(index, request, anchors=np.array([3, 99], dtype=np.int64))
    assert not nowhere.allocation_requests
