"""An aggregate's name and metadata (``/berth/v1/aggregates/{uuid}/metadata``).

A berth extension, served at every microversion: Nova's side of a host aggregate, which
the scheduler's filters match (availability zone, tenant isolation, keys against flavor
extra specs). ``PUT`` replaces the name and the whole map and answers like ``GET``::

    {"uuid": "<aggregate>", "name": "rack-1", "metadata": {"availability_zone": "az1"}}

Any aggregate uuid may be described, even one no provider is in yet (Placement's
aggregates are bare uuids; hosts are usually added after the zone is set up). ``GET`` is a
404 until a ``PUT``, and again after ``DELETE``, which forgets the description but leaves
provider membership alone. Names are unique across aggregates (409, as in Nova).
Policy ``berth:aggregates:metadata:{show,update,delete}``: admin only by default.
"""

from __future__ import annotations

from berth.api.handlers.server_groups import path_uuid
from berth.api.http import Request, Response, cache_headers, json_response, no_content
from berth.api.schemas import aggregate_metadata as schemas
from berth.api.state import AppState
from berth.api.validation import validate
from berth.db import aggregate_metadata
from berth.db.aggregate_metadata import AggregateMetadata

SHOW = "berth:aggregates:metadata:show"
UPDATE = "berth:aggregates:metadata:update"
DELETE = "berth:aggregates:metadata:delete"


def _respond(req: Request, found: AggregateMetadata) -> Response:
    body = {"uuid": found.uuid, "name": found.name, "metadata": found.metadata}
    return cache_headers(req, json_response(body), found.last_modified)


def get_metadata(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, SHOW)
    agg = path_uuid(req, "uuid", "aggregate")
    with st.store.read() as conn:
        found = aggregate_metadata.get(conn, agg)
    return _respond(req, found)


def set_metadata(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, UPDATE)
    agg = path_uuid(req, "uuid", "aggregate")
    data = validate(schemas.SET, req.json_body())
    with st.store.write() as conn:
        found = aggregate_metadata.set_metadata(conn, agg, data["name"], data["metadata"])
    return _respond(req, found)


def delete_metadata(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, DELETE)
    agg = path_uuid(req, "uuid", "aggregate")
    with st.store.write() as conn:
        aggregate_metadata.delete_metadata(conn, agg)
    return no_content()
