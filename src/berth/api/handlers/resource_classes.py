"""Handlers for /resource_classes: list, show, create, rename (1.2-1.6), ensure (1.7+), delete.

Standard classes are listed and shown like custom ones but can never be written: their
names belong to os-resource-classes, and every service must agree on them.
"""

from __future__ import annotations

from berth.api.errors import BadRequest
from berth.api.http import Request, Response, cache_headers, json_response, no_content
from berth.api.schemas import resource_classes as schemas
from berth.api.state import AppState
from berth.api.validation import validate
from berth.db import resource_classes as db
from berth.model.names import is_custom


def _url(req: Request, name: str) -> str:
    return f"{req.environ.get('SCRIPT_NAME', '')}/resource_classes/{name}"


def _view(req: Request, name: str) -> dict[str, object]:
    return {"name": name, "links": [{"rel": "self", "href": _url(req, name)}]}


def _created(req: Request, name: str, status: int) -> Response:
    return Response(status=status, headers=[("Location", _url(req, name))])


def list_resource_classes(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_classes:list")
    with st.store.read() as conn:
        rows = db.list_all(conn)
    resp = json_response({"resource_classes": [_view(req, r.name) for r in rows]})
    stamps = [r.modified for r in rows if r.modified is not None]
    return cache_headers(req, resp, max(stamps) if stamps else None)


def get_resource_class(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_classes:show")
    name = req.path_param("name")
    with st.store.read() as conn:
        row = db.get(conn, name)
    return cache_headers(req, json_response(_view(req, row.name)), row.modified)


def create_resource_class(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_classes:create")
    body = validate(schemas.NAME_BODY, req.json_body())
    name: str = body["name"]
    with st.store.write() as conn:
        db.create(conn, name)
    return _created(req, name, 201)


def update_resource_class(req: Request, st: AppState) -> Response:
    """Before 1.7 a PUT renames a custom class; from 1.7 it creates it if missing."""
    st.policy.authorize(req.context, "placement:resource_classes:update")
    name = req.path_param("name")
    if req.version >= (1, 7):
        validate(schemas.PATH_NAME, {"name": name})
        with st.store.write() as conn:
            created = db.ensure(conn, name)
        return _created(req, name, 201 if created else 204)
    body = validate(schemas.NAME_BODY, req.json_body())
    if not is_custom(name):
        raise BadRequest(f"Cannot update standard resource class {name}")
    new_name: str = body["name"]
    with st.store.write() as conn:
        db.rename(conn, name, new_name)
    return json_response(_view(req, new_name))


def delete_resource_class(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_classes:delete")
    name = req.path_param("name")
    if not is_custom(name):
        # Unknown non-custom names are simply not found; known standard ones are refused.
        with st.store.read() as conn:
            db.get(conn, name)
        raise BadRequest(f"Cannot delete standard resource class {name}")
    with st.store.write() as conn:
        db.delete_custom(conn, name)
    return no_content()
