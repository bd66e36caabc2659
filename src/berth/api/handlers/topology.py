"""Handlers for /berth/v1/hosts/{uuid}/topology: a compute host's NUMA and PCI topology.

berth's own extension, not part of Placement: it needs no microversion (the route
exists at every one) and answers in Placement's error format. The host is its root
resource provider, which must exist first (``POST /resource_providers``). A PUT stores
the document and, in the same transaction, the inventories, traits and device child
providers Placement clients see (``berth.model.topology_placement``); its ``generation``
member, when given, is a compare-and-swap on the document (0: none stored yet).
"""

from __future__ import annotations

from typing import Any

from berth.api.errors import NotFound
from berth.api.http import Request, Response, cache_headers, json_response, no_content
from berth.api.schemas import topology as schemas
from berth.api.state import AppState
from berth.db import topology as db
from berth.model.topology_codec import topology_from_json, topology_to_json


def _view(stored: db.StoredTopology) -> dict[str, Any]:
    s = stored.settings
    return {
        "generation": stored.generation,
        "resource_provider_generation": stored.provider_generation,
        "cpu_allocation_ratio": s.cpu_allocation_ratio,
        "ram_allocation_ratio": s.ram_allocation_ratio,
        "reserved_host_cpus": s.reserved_host_cpus,
        "reserved_host_memory_mb": s.reserved_host_memory_mb,
        **topology_to_json(stored.topology),
    }


def _settings(body: dict[str, Any]) -> db.SettingsRequest:
    def number(key: str) -> float | None:
        return None if key not in body else float(body[key])

    def count(key: str) -> int | None:
        return None if key not in body else int(body[key])

    return db.SettingsRequest(
        cpu_allocation_ratio=number("cpu_allocation_ratio"),
        ram_allocation_ratio=number("ram_allocation_ratio"),
        reserved_host_cpus=count("reserved_host_cpus"),
        reserved_host_memory_mb=count("reserved_host_memory_mb"),
    )


def put_topology(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "berth:topology:update")
    body = schemas.validate_put(req.json_body())
    generation = body.get("generation")
    stored = db.save(
        st.store,
        req.path_param("uuid"),
        topology_from_json(body),
        expected_generation=None if generation is None else int(generation),
        settings=_settings(body),
    )
    return cache_headers(req, json_response(_view(stored)), None)


def get_topology(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "berth:topology:show")
    uuid = req.path_param("uuid")
    with st.store.read() as conn:
        stored = db.read(conn, uuid)
    if stored is None:
        raise NotFound(f"No topology for resource provider {uuid}")
    return cache_headers(req, json_response(_view(stored)), stored.updated_at)


def delete_topology(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "berth:topology:delete")
    with st.store.write() as conn:
        db.delete_topology(conn, req.path_param("uuid"))
    return no_content()
