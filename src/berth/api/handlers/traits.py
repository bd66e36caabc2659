"""Handlers for /traits and /resource_providers/{uuid}/traits (microversion 1.6+).

Trait writes on a provider replace its whole set and bump the provider's generation, so a
client that read an older set cannot overwrite a newer one: it gets a 409 and re-reads.
"""

from __future__ import annotations

from datetime import datetime

from berth.api.errors import BadRequest
from berth.api.http import Request, Response, cache_headers, json_response, no_content
from berth.api.schemas import traits as schemas
from berth.api.state import AppState
from berth.api.validation import validate, validate_query
from berth.db import generations, providers
from berth.db import traits as db
from berth.model.errors import ConcurrentUpdate
from berth.model.names import is_custom, is_valid_custom_name

INVALID_TRAIT = (
    "The trait is invalid. A valid trait must be no longer than 255 characters, start with "
    'the prefix "CUSTOM_" and use following characters: "A"-"Z", "0"-"9" and "_"'
)
GENERATION_CHANGED = (
    "Resource provider's generation already changed. Please update the generation and try again."
)


def _newest(stamps: list[datetime | None]) -> datetime | None:
    present = [s for s in stamps if s is not None]
    return max(present) if present else None


def _name_filter(value: str) -> tuple[list[str] | None, str | None]:
    """``in:A,B`` -> exact names; ``startswith:P`` -> prefix; anything else is a 400."""
    if value.startswith("in:"):
        return [n for n in value[3:].split(",") if n], None
    if value.startswith("startswith:"):
        return None, value[len("startswith:") :]
    raise BadRequest(
        "Badly formatted name parameter. Expected name query string parameter in form: "
        f'?name=[in|startswith]:[name1,name2|prefix]. Got: "{value}"'
    )


def list_traits(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:traits:list")
    query = validate_query(schemas.LIST_QUERY, dict(req.query))
    names, prefix = _name_filter(query["name"]) if "name" in query else (None, None)
    associated: bool | None = None
    if "associated" in query:
        flag = query["associated"].lower()
        if flag not in ("true", "false"):
            raise BadRequest('The query parameter "associated" only accepts "true" or "false"')
        associated = flag == "true"
    with st.store.read() as conn:
        rows = db.list_traits(conn, names=names, prefix=prefix, associated=associated)
    resp = json_response({"traits": [r.name for r in rows]})
    return cache_headers(req, resp, _newest([r.modified for r in rows]))


def get_trait(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:traits:show")
    with st.store.read() as conn:
        row = db.get(conn, req.path_param("name"))
    return cache_headers(req, no_content(), row.modified)


def put_trait(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:traits:update")
    name = req.path_param("name")
    if not is_valid_custom_name(name):
        raise BadRequest(INVALID_TRAIT)
    with st.store.write() as conn:
        created = db.ensure(conn, name)
        row = db.get(conn, name)
    url = f"{req.environ.get('SCRIPT_NAME', '')}/traits/{name}"
    resp = Response(status=201 if created else 204, headers=[("Location", url)])
    return cache_headers(req, resp, row.modified)


def delete_trait(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:traits:delete")
    name = req.path_param("name")
    with st.store.write() as conn:
        db.get(conn, name)
        if not is_custom(name):
            raise BadRequest(f"Cannot delete standard trait {name}.")
        db.delete_custom(conn, name)
    return no_content()


def _provider_view(names: list[str], generation: int) -> dict[str, object]:
    return {"traits": names, "resource_provider_generation": generation}


def list_provider_traits(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:traits:list")
    with st.store.read() as conn:
        rp = providers.get_row(conn, req.path_param("uuid"))
        rows = db.provider_traits(conn, rp.id)
    resp = json_response(_provider_view([r.name for r in rows], rp.generation))
    return cache_headers(req, resp, rp.updated_at or rp.created_at)


def set_provider_traits(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:traits:update")
    uuid = req.path_param("uuid")
    body = validate(schemas.PROVIDER_TRAITS, req.json_body())
    seen: int = body["resource_provider_generation"]
    with st.store.write() as conn:
        rp = providers.get_row(conn, uuid)
        if rp.generation != seen:
            raise ConcurrentUpdate(GENERATION_CHANGED)
        generation = generations.bump_provider(conn, rp.id, seen)
        db.set_provider_traits(conn, rp.id, body["traits"])
        names = [r.name for r in db.provider_traits(conn, rp.id)]
    return cache_headers(req, json_response(_provider_view(names, generation)), None)


def delete_provider_traits(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:traits:delete")
    with st.store.write() as conn:
        rp = providers.get_row(conn, req.path_param("uuid"))
        generations.bump_provider(conn, rp.id, rp.generation)
        db.clear_provider_traits(conn, rp.id)
    return no_content()
