"""GET /allocation_candidates: where could this request be placed right now?

Parse the query (``candidate_params``), then let the process's resident index
(``berth.query.resident``) check that the named resource classes and traits exist, catch
up with committed writes and find the candidates, and render them in the request's
microversion (``berth.api.candidates_json``): allocation requests as a list (1.10/1.11)
or keyed by provider (1.12+), with ``mappings`` from 1.34; provider summaries with traits
from 1.17, every resource class from 1.27 (only the requested ones before), and
parent/root uuids from 1.29.
"""

from __future__ import annotations

import json
from typing import Any

from berth.api import candidate_params, candidates_json
from berth.api.errors import BadRequest
from berth.api.http import Request, Response, cache_headers, raw_json_response
from berth.api.microversion import Version
from berth.api.state import AppState
from berth.model.candidates import CandidateRequest, CandidateResult
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
    resp = raw_json_response(candidates_json.render(answer.result, request, req.version))
    return cache_headers(req, resp, None)


def render(result: CandidateResult, request: CandidateRequest, version: Version) -> Any:
    """The response body for ``version``, as JSON values (what a client decodes)."""
    return json.loads(candidates_json.render(result, request, version))
