"""Handlers for resource providers: create, list/filter, show, update (incl. re-parenting)
and delete.

A provider's body is rendered in one place, ``berth.api.provider_bodies``; the list is
filtered by the resident index (``berth.query.providers``), the rest read and write
through ``berth.db.providers``.
"""

from __future__ import annotations

import uuid as uuidlib

from berth.api import provider_bodies as bodies
from berth.api import query_params as qp
from berth.api.http import Request, Response, cache_headers, json_response, no_content
from berth.api.schemas import resource_providers as schemas
from berth.api.state import AppState
from berth.api.validation import validate
from berth.db import providers
from berth.model.filters import ProviderQuery
from berth.model.provider import Provider
from berth.model.uuids import normalize
from berth.query import providers as provider_query


def _one(req: Request, p: Provider, status: int = 200) -> Response:
    return cache_headers(req, json_response(bodies.render(req, p), status), p.last_modified)


def list_providers(req: Request, st: AppState) -> Response:
    """Filtered by the resident index (``berth.query.providers``) and rendered from
    cached per-provider JSON (``provider_bodies.provider_list``) while its lock is held."""
    st.policy.authorize(req.context, "placement:resource_providers:list")
    query = _list_query(req)
    with provider_query.listing(st.store, query) as (index, found):
        body, newest = bodies.provider_list(req, index, found)
    resp = Response(status=200, body=body, content_type="application/json")
    return cache_headers(req, resp, newest)


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
    location = bodies.provider_url(req, created.uuid)
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
