"""Handlers for resource providers: create, list/filter, show, update (incl. re-parenting)
and delete.

The body of a provider grows with the microversion (parent/root uuids at 1.14, links as
the endpoints they point at appear), so it is rendered in exactly one place, ``render``.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from berth.api import query_params as qp
from berth.api.http import Request, Response, cache_headers, json_response, no_content
from berth.api.schemas import resource_providers as schemas
from berth.api.state import AppState
from berth.api.validation import validate
from berth.db import provider_search, providers
from berth.model.filters import ProviderQuery
from berth.model.provider import Provider
from berth.model.uuids import normalize

# (rel, path suffix, microversion the link appears at)
_LINKS: tuple[tuple[str, str, tuple[int, int]], ...] = (
    ("self", "", (1, 0)),
    ("inventories", "/inventories", (1, 0)),
    ("usages", "/usages", (1, 0)),
    ("aggregates", "/aggregates", (1, 1)),
    ("traits", "/traits", (1, 6)),
    ("allocations", "/allocations", (1, 11)),
)


def provider_url(req: Request, provider_uuid: str) -> str:
    """The provider's path, under whatever prefix the app is mounted at."""
    return f"{req.environ.get('SCRIPT_NAME', '')}/resource_providers/{provider_uuid}"


def render(req: Request, p: Provider) -> dict[str, Any]:
    """A provider as Placement shows it at the request's microversion."""
    base = provider_url(req, p.uuid)
    body: dict[str, Any] = {
        "uuid": p.uuid,
        "name": p.name,
        "generation": p.generation,
        "links": [
            {"rel": rel, "href": base + suffix}
            for rel, suffix, since in _LINKS
            if req.version >= since
        ],
    }
    if req.version >= (1, 14):
        body["parent_provider_uuid"] = p.parent_uuid
        body["root_provider_uuid"] = p.root_uuid
    return body


def _one(req: Request, p: Provider, status: int = 200) -> Response:
    return cache_headers(req, json_response(render(req, p), status), p.last_modified)


def list_providers(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:list")
    query = _list_query(req)
    with st.store.read() as conn:
        found = provider_search.search(conn, query)
    body = {"resource_providers": [render(req, p) for p in found]}
    newest = max((p.last_modified for p in found if p.last_modified), default=None)
    return cache_headers(req, json_response(body), newest)


def _list_query(req: Request) -> ProviderQuery:
    params = req.query_dict()
    qp.check_keys(params, schemas.list_query_keys(req.version))
    name = qp.last(params, "name")
    uuid = qp.last(params, "uuid")
    in_tree = qp.last(params, "in_tree")
    resources = qp.last(params, "resources")
    return ProviderQuery(
        name=name,
        uuid=None if uuid is None else qp.parse_uuid(uuid),
        in_tree=None if in_tree is None else qp.parse_in_tree(in_tree),
        member_of=qp.parse_member_of(params.get("member_of", []), req.version),
        resources={} if resources is None else qp.parse_resources(resources),
        traits=qp.parse_required(params.get("required", []), req.version),
    )


def create_provider(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:create")
    data = validate(schemas.create_schema(req.version), req.json_body())
    new_uuid = normalize(data["uuid"]) if data.get("uuid") else str(uuidlib.uuid4())
    parent = data.get("parent_provider_uuid")
    with st.store.write() as conn:
        created = providers.create(
            conn,
            uuid=new_uuid,
            name=data["name"],
            parent_uuid=None if parent is None else normalize(parent),
        )
    location = provider_url(req, created.uuid)
    if req.version < (1, 20):
        return Response(status=201).header("Location", location)
    return _one(req, created).header("Location", location)


def get_provider(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:show")
    with st.store.read() as conn:
        found = providers.get(conn, req.path_param("uuid"))
    return _one(req, found)


def update_provider(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:update")
    data = validate(schemas.update_schema(req.version), req.json_body())
    parent = data.get("parent_provider_uuid")
    with st.store.write() as conn:
        updated = providers.update_provider(
            conn,
            req.path_param("uuid"),
            name=data["name"],
            set_parent="parent_provider_uuid" in data,
            parent_uuid=None if parent is None else normalize(parent),
            allow_reparenting=req.version >= (1, 37),
        )
    return _one(req, updated)


def delete_provider(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:delete")
    with st.store.write() as conn:
        providers.delete_provider(conn, req.path_param("uuid"))
    return no_content()
