"""A host's build record (``/berth/v1/hosts/{uuid}/build_results`` and ``.../stats``).

A berth extension, served at every microversion. Whoever builds instances (Nova's
compute or conductor) reports each build's outcome on the host, a root provider; the
scheduler's build-failure weigher ranks hosts by the count of failures since the last
success. Both endpoints answer::

    {"host_uuid": "...", "host_name": "cn1", "failed_builds": 2,
     "last_failure_at": "2024-05-01T12:00:00Z", "updated_at": "2024-05-01T12:00:00Z"}

(times null until the first report). A provider that is not a root is not a host: 400.
Policy ``berth:hosts:build_results:create`` and ``berth:hosts:stats:show``: admin only by
default (a policy file can open reporting to the service role).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from berth.api.errors import BadRequest
from berth.api.handlers.server_groups import path_uuid
from berth.api.http import Request, Response, cache_headers, json_response
from berth.api.schemas import host_stats as schemas
from berth.api.state import AppState
from berth.api.validation import validate
from berth.db import host_stats, providers
from berth.db.host_stats import HostStats
from berth.model.provider import Provider

REPORT = "berth:hosts:build_results:create"
SHOW = "berth:hosts:stats:show"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _respond(req: Request, host: Provider, stats: HostStats) -> Response:
    body: dict[str, Any] = {
        "host_uuid": host.uuid,
        "host_name": host.name,
        "failed_builds": stats.failed_builds,
        "last_failure_at": _iso(stats.last_failure_at),
        "updated_at": _iso(stats.updated_at),
    }
    return cache_headers(req, json_response(body), stats.updated_at or host.last_modified)


def _check_host(host: Provider) -> Provider:
    if host.root_uuid != host.uuid:
        raise BadRequest(
            f"Resource provider {host.uuid} is not a host: build results are kept for root "
            f"providers (its root is {host.root_uuid})"
        )
    return host


def report_build_result(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, REPORT)
    host_uuid = path_uuid(req, "uuid", "host")
    data = validate(schemas.BUILD_RESULT, req.json_body())
    with st.store.write() as conn:
        host = _check_host(providers.get(conn, host_uuid))
        if data["result"] == schemas.FAILURE:
            stats = host_stats.record_failure(conn, host.id)
        else:
            stats = host_stats.record_success(conn, host.id)
    return _respond(req, host, stats)


def get_stats(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, SHOW)
    host_uuid = path_uuid(req, "uuid", "host")
    with st.store.read() as conn:
        host = _check_host(providers.get(conn, host_uuid))
        stats = host_stats.get(conn, host.id)
    return _respond(req, host, stats)
