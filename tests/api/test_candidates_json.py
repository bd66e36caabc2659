"""The candidates body written from fragments equals plain ``json.dumps`` of its values.

``berth.api.candidates_json`` assembles the body from remembered summary fragments and
per-shape templates. Here, on random clouds and requests (the engine's differential test
cases), at every microversion band, the bytes must equal a straightforward rendering:
dicts built value by value, as a client would expect them, dumped by ``json``. Random
clouds reuse provider ids with different contents from one example to the next, so a
stale remembered fragment would show.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from berth.api import candidates_json
from berth.api.microversion import Version
from berth.model.candidates import CandidateRequest, CandidateResult, RequestGroup
from berth.model.inventory import Inventory
from berth.query import candidates
from query.cloudgen import CloudSpec, P, clouds, provider_uuid, requests

NESTED = [Version(1, 29), Version(1, 34), Version(1, 36), Version(1, 39)]
FLAT = [Version(1, 10), Version(1, 12), Version(1, 17), Version(1, 27), Version(1, 28)]


def plain(result: CandidateResult, request: CandidateRequest, version: Version) -> bytes:
    """The body as values, then ``json.dumps``."""
    areqs: list[Any] = []
    for areq in result.allocation_requests:
        by_provider: dict[str, dict[str, int]] = {}
        for a in areq.allocations:
            by_provider.setdefault(result.uuids[a.provider_id], {})[a.resource_class] = a.amount
        if version < (1, 12):
            areqs.append(
                {
                    "allocations": [
                        {"resource_provider": {"uuid": u}, "resources": r}
                        for u, r in by_provider.items()
                    ]
                }
            )
            continue
        body: dict[str, Any] = {
            "allocations": {u: {"resources": r} for u, r in by_provider.items()}
        }
        if version >= (1, 34):
            body["mappings"] = {
                suffix: [result.uuids[p] for p in pids] for suffix, pids in areq.mappings
            }
        areqs.append(body)
    summaries: dict[str, Any] = {}
    for s in result.provider_summaries:
        shown: dict[str, Any] = {
            "resources": {
                r.resource_class: {"capacity": r.capacity, "used": r.used}
                for r in s.resources
                if version >= (1, 27) or r.resource_class in request.resource_classes
            }
        }
        if version >= (1, 17):
            shown["traits"] = list(s.traits)
        if version >= (1, 29):
            shown["parent_provider_uuid"] = s.parent_uuid
            shown["root_provider_uuid"] = s.root_uuid
        summaries[s.uuid] = shown
    body = {"allocation_requests": areqs, "provider_summaries": summaries}
    return json.dumps(body, separators=(",", ":")).encode()


@st.composite
def cases(draw: st.DrawFn) -> tuple[CloudSpec, CandidateRequest, Version]:
    spec = draw(clouds())
    request = draw(requests(len(spec.providers)))
    version = draw(st.sampled_from(NESTED if request.nested_aware else FLAT))
    return spec, request, version


@settings(max_examples=300, deadline=None)
@given(cases())
def test_body_equals_plain_json(case: tuple[CloudSpec, CandidateRequest, Version]) -> None:
    spec, request, version = case
    result = candidates.find(spec.cloud(), request)
    body = candidates_json.render(result, request, version)
    assert body == plain(result, request, version)
    assert candidates_json.render(result, request, version) == body  # remembered


def test_uniform_block_shapes() -> None:
    """Many hosts, answered as one block: classes from one provider, from two (host and
    sharing disk), in both id orders; every microversion band."""
    shares = ("MISC_SHARES_VIA_AGGREGATE",)
    agg = frozenset({"aaaaaaaa-0000-0000-0000-000000000001"})
    vcpu = {"VCPU": Inventory(total=8)}
    both = {"VCPU": Inventory(total=8), "DISK_GB": Inventory(total=100)}
    disk = {"DISK_GB": Inventory(total=1000)}
    spec = CloudSpec(
        [
            P(inventory=both),
            P(inventory=vcpu, aggs=agg),  # disk from the pool after it
            P(inventory=disk, traits=shares, aggs=agg),
            P(inventory=vcpu, aggs=agg),  # disk from the pool before it
            P(inventory=both, traits=("HW_CPU_X86_AVX",)),
        ]
    )
    for nested in (True, False):
        request = CandidateRequest(
            groups=(RequestGroup("", {"VCPU": 1, "DISK_GB": 10}),), nested_aware=nested
        )
        result = candidates.find(spec.cloud(), request)
        assert len(result.allocation_requests) == 4
        for version in NESTED if nested else FLAT:
            body = candidates_json.render(result, request, version)
            assert body == plain(result, request, version)
            decoded = json.loads(body)
            assert len(decoded["provider_summaries"]) == 5
            assert provider_uuid(2) in json.dumps(decoded["allocation_requests"])
