"""Handlers for allocations: a consumer's (GET/PUT/DELETE), many at once (POST), a provider's.

Bodies are validated against the schema of the request's microversion and turned into
``ConsumerAllocations`` values; every change is committed by ``berth.db.allocations`` in
one transaction, which is where capacity and generations are checked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from berth.api.errors import BadRequest
from berth.api.http import Request, Response, cache_headers, json_response, no_content
from berth.api.schemas import allocations as schemas
from berth.api.state import AppState
from berth.api.validation import validate
from berth.db import allocations as db
from berth.model.allocation import (
    UNKNOWN_CONSUMER_TYPE,
    ConsumerAllocations,
    ConsumerView,
)
from berth.model.errors import (
    INVENTORY_INUSE,
    ConcurrentUpdate,
    ConflictError,
    InvalidError,
    NotFoundError,
)
from berth.model.uuids import is_uuid_like, normalize


def _canonical(uuid: str) -> str:
    """Stored uuids are canonical; a dashless or upper-case path names the same one."""
    return normalize(uuid) if is_uuid_like(uuid) else uuid


def _resources(allocations: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """The dict format (1.12+) without the ignored per-provider generation."""
    return {normalize(rp): dict(entry["resources"]) for rp, entry in allocations.items()}


def consumer_from_body(
    consumer_uuid: str, body: Mapping[str, Any], version: tuple[int, int]
) -> ConsumerAllocations:
    """One consumer's validated dict-format entry (PUT 1.12+, POST, reshaper) as a value."""
    return ConsumerAllocations(
        consumer_uuid=consumer_uuid,
        resources=_resources(body["allocations"]),
        project_id=body.get("project_id"),
        user_id=body.get("user_id"),
        generation=body.get("consumer_generation"),
        check_generation=version >= (1, 28),
        consumer_type=body.get("consumer_type"),
    )


@contextmanager
def explained(consumer_uuid: str | None = None, *, reword_invalid: bool = True) -> Iterator[None]:
    """Word committer refusals as Placement does; generation conflicts pass unchanged."""
    try:
        yield
    except ConcurrentUpdate:
        raise
    except ConflictError as exc:
        if exc.code == INVENTORY_INUSE:  # the reshaper dropping a class still in use
            raise
        raise ConflictError(f"Unable to allocate inventory: {exc.message}", code=exc.code) from exc
    except InvalidError as exc:
        if not reword_invalid:
            raise
        who = f" for consumer {consumer_uuid}" if consumer_uuid else ""
        raise InvalidError(
            f"Unable to allocate inventory{who}: {exc.message}", code=exc.code
        ) from exc


def _consumer_path(req: Request) -> str:
    return req.path_param("consumer_uuid")


def _view(view: ConsumerView, req: Request) -> dict[str, Any]:
    body: dict[str, Any] = {
        "allocations": {
            a.provider_uuid: {"generation": a.provider_generation, "resources": dict(a.resources)}
            for a in view.allocations
        }
    }
    consumer = view.consumer
    if consumer is not None and view.allocations:
        if req.version >= (1, 12):
            body["project_id"] = consumer.project_id
            body["user_id"] = consumer.user_id
        if req.version >= (1, 28):
            body["consumer_generation"] = consumer.generation
        if req.version >= (1, 38):
            body["consumer_type"] = consumer.consumer_type or UNKNOWN_CONSUMER_TYPE
    return body


def get_allocations(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:allocations:list")
    consumer_uuid = _canonical(_consumer_path(req))
    with st.store.read() as conn:
        view = db.for_consumer(conn, consumer_uuid)
    return cache_headers(req, json_response(_view(view, req)), view.last_modified)


def provider_allocations(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:resource_providers:allocations:list")
    with st.store.read() as conn:
        view = db.for_provider(conn, _canonical(req.path_param("uuid")))
    body = {
        "allocations": {c: {"resources": dict(res)} for c, res in view.by_consumer.items()},
        "resource_provider_generation": view.provider_generation,
    }
    return cache_headers(req, json_response(body), view.last_modified)


def _put_request(req: Request, consumer_uuid: str) -> ConsumerAllocations:
    body = validate(schemas.put_schema(req.version), req.json_body())
    if req.version >= (1, 12):
        return consumer_from_body(consumer_uuid, body, req.version)
    resources: dict[str, dict[str, int]] = {}
    for item in body["allocations"]:
        rp = normalize(item["resource_provider"]["uuid"])
        resources.setdefault(rp, {}).update(item["resources"])
    return ConsumerAllocations(
        consumer_uuid=consumer_uuid,
        resources=resources,
        project_id=body.get("project_id"),
        user_id=body.get("user_id"),
    )


def put_allocations(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:allocations:update")
    raw = _consumer_path(req)
    if not is_uuid_like(raw):
        raise BadRequest(f"Malformed consumer_uuid: {raw}")
    wanted = _put_request(req, normalize(raw))
    with explained(wanted.consumer_uuid):
        db.commit(st.store, [wanted])
    return no_content()


def post_allocations(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:allocations:manage")
    body = validate(schemas.post_schema(req.version), req.json_body())
    # Keyed by canonical uuid: a dashed and a dashless key name one consumer, once.
    batch = {
        normalize(uuid): consumer_from_body(normalize(uuid), entry, req.version)
        for uuid, entry in body.items()
    }
    with explained():
        db.commit(st.store, list(batch.values()))
    return no_content()


def delete_allocations(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, "placement:allocations:delete")
    consumer_uuid = _canonical(_consumer_path(req))
    try:
        with st.store.write() as conn:
            db.delete_consumer(conn, consumer_uuid)
    except NotFoundError as exc:
        # Placement words the 404 with the path as given.
        raise NotFoundError(f"No allocations for consumer '{_consumer_path(req)}'") from exc
    return no_content()
