"""Handlers for usages: per provider, and per project/user (1.9), by consumer type (1.38).

Usages are summed at request time, so Last-Modified (1.15+) is simply "now".
"""

from __future__ import annotations

from typing import Any

from berth.api.http import Request, Response, cache_headers, json_response
from berth.api.schemas import usages as schemas
from berth.api.state import AppState
from berth.api.validation import validate_query
from berth.db import providers
from berth.db import usages as db


def provider_usages(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:usages")
    with st.store.read() as conn:
        rp = providers.get_row(conn, req.path_param("uuid"))
        usages = db.provider_usages(conn, rp.id)
    body = {"resource_provider_generation": rp.generation, "usages": usages}
    return cache_headers(req, json_response(body), None)


def usages(req: Request, st: AppState) -> Response:
    params = dict(req.query)
    # The target is the project asked about: project readers may see their own usage.
    st.policy.authorize(req.context, "placement:usages", {"project_id": params.get("project_id")})
    typed = req.version >= (1, 38)
    validate_query(schemas.QUERY_1_38 if typed else schemas.QUERY, params)
    project_id = params["project_id"]
    user_id = params.get("user_id")
    result: dict[str, Any]
    with st.store.read() as conn:
        if typed:
            groups = db.project_usages_by_type(
                conn, project_id, user_id, params.get("consumer_type")
            )
            result = {
                name: {"consumer_count": g.consumer_count, **g.resources}
                for name, g in groups.items()
            }
        else:
            result = dict(db.project_usages(conn, project_id, user_id))
    return cache_headers(req, json_response({"usages": result}), None)
