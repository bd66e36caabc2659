"""GET /allocation_candidates: where could this request be placed right now?

Parse the query (``candidate_params``), then let the process's resident index
(``berth.query.resident``) check that the named resource classes and traits exist, catch
up with committed writes and find the candidates, and render them in the request's
microversion: allocation requests as a list (1.10/1.11) or keyed by provider (1.12+),
with ``mappings`` from 1.34; provider summaries with traits from 1.17, every resource
class from 1.27 (only the requested ones before), and parent/root uuids from 1.29.
"""

from __future__ import annotations

from typing import Any

from berth.api import candidate_params
from berth.api.errors import BadRequest
from berth.api.http import Request, Response, cache_headers, json_response
from berth.api.microversion import Version
from berth.api.state import AppState
from berth.model.candidates import AllocationRequest, CandidateRequest, CandidateResult
from berth.query import resident


def list_candidates(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:allocation_candidates:list")
    request = candidate_params.parse(req.query, req.version)
    answer = resident.for_store(st.store).answer(request)
    if answer.unknown_classes:
        raise BadRequest(
            "Invalid resource class in resources parameter: "
            f"No such resource class {answer.unknown_classes[0]}."
        )
    if answer.unknown_traits:
        raise BadRequest(f"No such trait(s): {', '.join(answer.unknown_traits)}.")
    assert answer.result is not None
    result = answer.result
    resp = json_response(render(result, request, req.version))
    return cache_headers(req, resp, None)


def render(result: CandidateResult, request: CandidateRequest, version: Version) -> Any:
    """The response body for ``version``."""
    if version >= (1, 12):
        areqs = [_areq_dict(a, result, version) for a in result.allocation_requests]
    else:
        areqs = [_areq_list(a, result) for a in result.allocation_requests]
    return {
        "allocation_requests": areqs,
        "provider_summaries": _summaries(result, request, version),
    }


def _by_provider(areq: AllocationRequest, result: CandidateResult) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for a in areq.allocations:
        out.setdefault(result.uuids[a.provider_id], {})[a.resource_class] = a.amount
    return out


def _areq_dict(areq: AllocationRequest, result: CandidateResult, version: Version) -> Any:
    body: dict[str, Any] = {
        "allocations": {
            uuid: {"resources": resources} for uuid, resources in _by_provider(areq, result).items()
        }
    }
    if version >= (1, 34):
        body["mappings"] = {
            suffix: [result.uuids[pid] for pid in pids] for suffix, pids in areq.mappings
        }
    return body


def _areq_list(areq: AllocationRequest, result: CandidateResult) -> Any:
    return {
        "allocations": [
            {"resource_provider": {"uuid": uuid}, "resources": resources}
            for uuid, resources in _by_provider(areq, result).items()
        ]
    }


def _summaries(result: CandidateResult, request: CandidateRequest, version: Version) -> Any:
    requested = request.resource_classes
    out: dict[str, Any] = {}
    for s in result.provider_summaries:
        body: dict[str, Any] = {
            "resources": {
                r.resource_class: {"capacity": r.capacity, "used": r.used}
                for r in s.resources
                if version >= (1, 27) or r.resource_class in requested
            }
        }
        if version >= (1, 17):
            body["traits"] = list(s.traits)
        if version >= (1, 29):
            body["parent_provider_uuid"] = s.parent_uuid
            body["root_provider_uuid"] = s.root_uuid
        out[s.uuid] = body
    return out
