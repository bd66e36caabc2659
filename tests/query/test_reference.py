"""The engine against a brute-force reference, on random small clouds.

Random clouds mix nested trees, sharing providers, aggregates, traits, usage and odd
inventory units; random requests mix the unsuffixed group, granular and resourceless
groups, required/forbidden/any-of traits, member_of (incl. forbidden), in_tree,
group_policy, root_required, same_subtree and pre-1.29 (nested-unaware) behaviour. The
engine must answer exactly the reference's set of candidates, with no duplicates.

The in-memory comparison runs many examples; the database one also checks the snapshot
loader (including its pruning to the trees a request can touch) on every engine.
"""

from __future__ import annotations

import os
from itertools import islice

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.db import snapshot
from berth.db.engine import Store
from berth.model.candidates import CandidateRequest, CandidateResult
from berth.model.cloud import Cloud
from berth.query import candidates
from query.cloudgen import CloudSpec, clouds, requests, scope_for, wipe, write
from query.reference import Key, reference

# BERTH_QUERY_EXAMPLES scales the number of random cases (the default keeps the quick
# run quick; generating a random cloud costs more than checking it).
SCALE = float(os.environ.get("BERTH_QUERY_EXAMPLES", "1"))


def _n(base: int) -> int:
    return max(1, int(base * SCALE))


def keys(result: CandidateResult) -> list[Key]:
    out = []
    for areq in result.allocation_requests:
        allocations = frozenset(
            (result.uuids[a.provider_id], a.resource_class, a.amount) for a in areq.allocations
        )
        mappings = frozenset(
            (suffix, frozenset(result.uuids[p] for p in pids)) for suffix, pids in areq.mappings
        )
        out.append((allocations, mappings))
    return out


def check(cloud: Cloud, expected_cloud: Cloud, request: CandidateRequest) -> None:
    got = keys(candidates.find(cloud, request))
    assert len(got) == len(set(got)), "duplicate candidates"
    assert set(got) == reference(expected_cloud, request)


@st.composite
def cases(draw: st.DrawFn) -> tuple[CloudSpec, CandidateRequest]:
    spec = draw(clouds())
    return spec, draw(requests(len(spec.providers)))


@settings(max_examples=_n(300), deadline=None)
@given(cases())
def test_engine_matches_reference(case: tuple[CloudSpec, CandidateRequest]) -> None:
    spec, request = case
    cloud = spec.cloud()
    check(cloud, cloud, request)


@settings(max_examples=_n(100), deadline=None)
@given(cases(), st.integers(1, 4))
def test_limit_is_a_prefix_of_the_full_answer(
    case: tuple[CloudSpec, CandidateRequest], limit: int
) -> None:
    spec, request = case
    cloud = spec.cloud()
    everything = candidates.find(cloud, request).allocation_requests
    limited = candidates.find(cloud, _with_limit(request, limit))
    assert list(limited.allocation_requests) == list(islice(everything, limit))
    used = {a.provider_id for areq in limited.allocation_requests for a in areq.allocations}
    shown = {s.provider_id for s in limited.provider_summaries}
    assert used <= shown


@settings(max_examples=_n(150), deadline=None)
@given(cases(), st.integers(1, 3))
def test_window_by_window_matches_reference(
    case: tuple[CloudSpec, CandidateRequest], growth: int
) -> None:
    """A limited request is searched in windows of anchors; with windows of one or a
    few anchors (and a limit nothing reaches) the answer is still exactly the
    reference's, and its order that of the unlimited answer."""
    spec, request = case
    cloud = spec.cloud()
    everything = candidates.find(cloud, request)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(candidates, "_first_window", lambda limit: 1)
        patch.setattr(candidates, "_GROWTH", growth)
        windowed = candidates.find(cloud, _with_limit(request, 10**6))
        check(cloud, cloud, _with_limit(request, 10**6))
        for limit in (1, 2, 3):
            limited = candidates.find(cloud, _with_limit(request, limit))
            assert list(limited.allocation_requests) == list(windowed.allocation_requests)[:limit]
    assert list(windowed.allocation_requests) == list(everything.allocation_requests)
    assert windowed.provider_summaries == everything.provider_summaries


def _with_limit(request: CandidateRequest, limit: int) -> CandidateRequest:
    return CandidateRequest(
        groups=request.groups,
        group_policy=request.group_policy,
        limit=limit,
        root_traits=request.root_traits,
        same_subtrees=request.same_subtrees,
        nested_aware=request.nested_aware,
    )


@settings(
    max_examples=_n(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_engine_on_database_snapshot_matches_reference(
    store: Store, case: tuple[CloudSpec, CandidateRequest]
) -> None:
    spec, request = case
    wipe(store)
    write(store, spec)
    loaded = snapshot.take(store, scope_for(request))
    check(loaded, spec.cloud(), request)
