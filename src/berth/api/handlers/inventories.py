"""Handlers for /resource_providers/{uuid}/inventories[/{resource_class}].

Every write bumps the provider's generation in the same transaction: PUTs name the
generation they were computed from (a stale one is a 409 ``placement.concurrent_update``),
while POST and DELETE swap against the generation read in that transaction, so a
concurrent allocation or inventory change still cannot interleave.
"""

from __future__ import annotations

from typing import Any

from berth.api.errors import BadRequest, NotFound
from berth.api.http import Request, Response, cache_headers, json_response, no_content
from berth.api.schemas import inventories as schemas
from berth.api.state import AppState
from berth.api.validation import validate
from berth.db import generations, providers
from berth.db import inventories as db
from berth.model.inventory import Inventory, capacity_problem


def _absolute_url(req: Request, path: str) -> str:
    """Placement answers Location with a full URL built from the request's own host."""
    env = req.environ
    scheme = env.get("wsgi.url_scheme", "http")
    host = req.headers.get("host") or f"{env.get('SERVER_NAME', '')}:{env.get('SERVER_PORT', '')}"
    return f"{scheme}://{host}{env.get('SCRIPT_NAME', '')}{path}"


def _inventory(data: dict[str, Any]) -> Inventory:
    """The record a body describes; fields it leaves out take Placement's defaults."""
    fields = ("total", "reserved", "min_unit", "max_unit", "step_size")
    # JSON Schema counts 2.0 as an integer; store and show it as 2.
    values: dict[str, Any] = {k: int(data[k]) for k in fields if k in data}
    if "allocation_ratio" in data:
        values["allocation_ratio"] = float(data["allocation_ratio"])
    return Inventory(**values)


def _check_capacity(req: Request, uuid: str, rc: str, inv: Inventory, action: str) -> None:
    problem = capacity_problem(rc, uuid, inv, reserved_may_equal_total=req.version >= (1, 26))
    if problem:
        raise BadRequest(f"Unable to {action} inventory for resource provider {uuid}: {problem}")


def _one_view(inv: Inventory, generation: int) -> dict[str, Any]:
    return {"resource_provider_generation": generation, **inv.as_dict()}


def _all_view(invs: dict[str, Inventory], generation: int) -> dict[str, Any]:
    return {
        "resource_provider_generation": generation,
        "inventories": {rc: inv.as_dict() for rc, inv in invs.items()},
    }


def list_inventories(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:inventories:list")
    with st.store.read() as conn:
        rp = providers.get_row(conn, req.path_param("uuid"))
        invs = db.get_all(conn, rp.id)
        modified = db.last_modified(conn, rp.id)
    return cache_headers(req, json_response(_all_view(invs, rp.generation)), modified)


def get_inventory(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:inventories:show")
    uuid = req.path_param("uuid")
    rc = req.path_param("resource_class")
    with st.store.read() as conn:
        rp = providers.get_row(conn, uuid)
        inv = db.get_all(conn, rp.id).get(rc)
        modified = db.last_modified(conn, rp.id)
    if inv is None:
        raise NotFound(f"No inventory of class {rc} for {uuid}")
    return cache_headers(req, json_response(_one_view(inv, rp.generation)), modified)


def create_inventory(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:inventories:create")
    uuid = req.path_param("uuid")
    body = validate(schemas.CREATE, req.json_body())
    rc: str = body["resource_class"]
    inv = _inventory(body)
    _check_capacity(req, uuid, rc, inv, "create")
    with st.store.write() as conn:
        rp = providers.get_row(conn, uuid)
        # Swap first: a concurrent writer then waits on the provider row and loses cleanly.
        generation = generations.bump_provider(conn, rp.id, rp.generation)
        db.add(conn, rp.id, rc, inv)
    resp = json_response(_one_view(inv, generation), status=201)
    resp.header("Location", _absolute_url(req, f"/resource_providers/{uuid}/inventories/{rc}"))
    return cache_headers(req, resp, None)


def update_inventory(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:inventories:update")
    uuid = req.path_param("uuid")
    rc = req.path_param("resource_class")
    body = validate(schemas.UPDATE_ONE, req.json_body())
    inv = _inventory(body)
    _check_capacity(req, uuid, rc, inv, "update")
    with st.store.write() as conn:
        rp = providers.get_row(conn, uuid)
        generation = generations.bump_provider(conn, rp.id, body["resource_provider_generation"])
        db.update_one(conn, rp.id, rc, inv)
    return cache_headers(req, json_response(_one_view(inv, generation)), None)


def set_inventories(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:inventories:update")
    uuid = req.path_param("uuid")
    body = validate(schemas.REPLACE_ALL, req.json_body())
    new = {rc: _inventory(data) for rc, data in body["inventories"].items()}
    for rc, inv in new.items():
        _check_capacity(req, uuid, rc, inv, "update")
    with st.store.write() as conn:
        rp = providers.get_row(conn, uuid)
        generation = generations.bump_provider(conn, rp.id, body["resource_provider_generation"])
        db.replace(conn, rp.id, new)
        invs = db.get_all(conn, rp.id)
    return cache_headers(req, json_response(_all_view(invs, generation)), None)


def delete_inventories(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:inventories:delete")
    with st.store.write() as conn:
        rp = providers.get_row(conn, req.path_param("uuid"))
        generations.bump_provider(conn, rp.id, rp.generation)
        db.replace(conn, rp.id, {})
    return no_content()


def delete_inventory(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:inventories:delete")
    with st.store.write() as conn:
        rp = providers.get_row(conn, req.path_param("uuid"))
        generations.bump_provider(conn, rp.id, rp.generation)
        db.delete_one(conn, rp.id, req.path_param("resource_class"))
    return no_content()
