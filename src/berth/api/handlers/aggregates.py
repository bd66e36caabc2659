"""Handlers for a provider's aggregates (GET/PUT /resource_providers/{uuid}/aggregates).

From 1.19 the body carries the provider generation: GET reports it, PUT must present the
current one and bumps it, so two writers changing membership cannot silently overwrite
each other. Before 1.19 PUT takes a bare list and leaves the generation alone.
"""

from __future__ import annotations

from typing import Any

from berth.api.http import Request, Response, cache_headers, json_response
from berth.api.schemas import aggregates as schemas
from berth.api.state import AppState
from berth.api.validation import validate
from berth.db import aggregates, generations, providers


def _respond(req: Request, uuids: list[str], generation: int, modified: Any) -> Response:
    body: dict[str, Any] = {"aggregates": uuids}
    if req.version >= (1, 19):
        body["resource_provider_generation"] = generation
    return cache_headers(req, json_response(body), modified)


def get_aggregates(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:aggregates:list")
    with st.store.read() as conn:
        rp = providers.get(conn, req.path_param("uuid"))
        uuids = aggregates.for_provider(conn, rp.id)
    return _respond(req, uuids, rp.generation, rp.last_modified)


def set_aggregates(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:aggregates:update")
    with st.store.write() as conn:
        # An unknown provider is a 404 whatever the body says, as in Placement.
        rp = providers.get(conn, req.path_param("uuid"))
        data = validate(schemas.set_schema(req.version), req.json_body())
        if req.version >= (1, 19):
            wanted: list[str] = data["aggregates"]
            seen: int | None = data["resource_provider_generation"]
        else:
            wanted, seen = data, None
        generation = rp.generation
        if seen is not None:
            generation = generations.bump_provider(conn, rp.id, seen)
        aggregates.set_for_provider(conn, rp.id, wanted)
        rp = providers.get(conn, rp.uuid)
    return _respond(req, list(dict.fromkeys(wanted)), generation, rp.last_modified)
