"""Server groups (``/berth/v1/server_groups``): Nova's affinity groups, for berth's scheduler.

A berth extension, served at every microversion. Create, list, show and delete a group,
and take a member out of it. Members are *added* only by the scheduler, in the same
transaction as the claim that places them (``berth.db.server_groups.add_members``, a
compare-and-swap on the group's generation), so there is no endpoint for that.

POST body: ``{"name", "policy", "rules": {"max_server_per_host"}?, "project_id"?,
"user_id"?, "uuid"?}``; the owner defaults to the caller. A group shows as::

    {"uuid", "name", "policy", "rules": {...}, "project_id", "user_id", "generation",
     "members": [{"consumer_uuid", "host_uuid", "host_name"}]}

Policy (``berth:server_groups:*``): an admin or service may do anything; a project's
members may create and delete its groups and its readers may see them. Listing without
``?project_id=`` shows every group to those allowed ``berth:server_groups:list:all_projects``
(admin), and the caller's own project's groups to anyone else.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from berth.api import query_params as qp
from berth.api.errors import BadRequest
from berth.api.http import Request, Response, cache_headers, json_response, no_content
from berth.api.schemas import server_groups as schemas
from berth.api.state import AppState
from berth.api.validation import validate, validate_query
from berth.db import server_groups
from berth.model.server_group import ANTI_AFFINITY, GroupMember, ServerGroup
from berth.model.uuids import is_uuid_like, normalize

CREATE = "berth:server_groups:create"
LIST = "berth:server_groups:list"
LIST_ALL = "berth:server_groups:list:all_projects"
SHOW = "berth:server_groups:show"
DELETE = "berth:server_groups:delete"
DELETE_MEMBER = "berth:server_groups:members:delete"

BASE = "/berth/v1/server_groups"


def path_uuid(req: Request, name: str, what: str) -> str:
    """A uuid in the path, normalized; 400 naming it when it is not one."""
    text = req.path_param(name)
    if not is_uuid_like(text):
        raise BadRequest(f"Malformed {what} uuid in the path: {text!r} is not a 'uuid'")
    return normalize(text)


def render(group: ServerGroup, members: list[GroupMember]) -> dict[str, Any]:
    rules: dict[str, int] = {}
    if group.max_server_per_host is not None:
        rules["max_server_per_host"] = group.max_server_per_host
    return {
        "uuid": group.uuid,
        "name": group.name,
        "policy": group.policy,
        "rules": rules,
        "project_id": group.project_id,
        "user_id": group.user_id,
        "generation": group.generation,
        "members": [
            {"consumer_uuid": m.consumer_uuid, "host_uuid": m.host_uuid, "host_name": m.host_name}
            for m in members
        ],
    }


def create_group(req: Request, st: AppState) -> Response:
    data = validate(schemas.CREATE, req.json_body())
    policy: str = data["policy"]
    rules: dict[str, int] = data.get("rules", {})
    if rules and policy != ANTI_AFFINITY:
        raise BadRequest(
            f"JSON does not validate: 'rules' are only allowed with the {ANTI_AFFINITY!r} "
            f"policy, not {policy!r}"
        )
    project_id = data.get("project_id", req.context.project_id)
    user_id = data.get("user_id", req.context.user_id)
    if not project_id or not user_id:
        raise BadRequest("JSON does not validate: 'project_id' and 'user_id' are required")
    st.policy.authorize(req.context, CREATE, {"project_id": project_id})
    new_uuid = normalize(data["uuid"]) if "uuid" in data else str(uuidlib.uuid4())
    with st.store.write() as conn:
        group = server_groups.create(
            conn,
            uuid=new_uuid,
            name=data["name"],
            project_id=project_id,
            user_id=user_id,
            policy=policy,
            max_server_per_host=rules.get("max_server_per_host"),
        )
    location = f"{req.environ.get('SCRIPT_NAME', '')}{BASE}/{group.uuid}"
    resp = json_response(render(group, []), status=201).header("Location", location)
    return cache_headers(req, resp, group.last_modified)


def list_groups(req: Request, st: AppState) -> Response:
    params = req.query_dict()
    qp.check_keys(params, schemas.LIST_QUERY["properties"])
    project_id = qp.last(params, "project_id")
    if project_id is not None:
        validate_query(schemas.LIST_QUERY, {"project_id": project_id})
        st.policy.authorize(req.context, LIST, {"project_id": project_id})
    elif not st.policy.allowed(req.context, LIST_ALL):
        st.policy.authorize(req.context, LIST)
        project_id = req.context.project_id
    with st.store.read() as conn:
        groups = server_groups.list_groups(conn, project_id)
        members = server_groups.member_details(conn, [g.id for g in groups])
    body = {"server_groups": [render(g, members[g.id]) for g in groups]}
    newest = max((g.last_modified for g in groups if g.last_modified), default=None)
    return cache_headers(req, json_response(body), newest)


def get_group(req: Request, st: AppState) -> Response:
    group_uuid = path_uuid(req, "uuid", "server group")
    with st.store.read() as conn:
        group = server_groups.get(conn, group_uuid)
        st.policy.authorize(req.context, SHOW, {"project_id": group.project_id})
        members = server_groups.member_details(conn, [group.id])[group.id]
    return cache_headers(req, json_response(render(group, members)), group.last_modified)


def delete_group(req: Request, st: AppState) -> Response:
    group_uuid = path_uuid(req, "uuid", "server group")
    with st.store.write() as conn:
        group = server_groups.get(conn, group_uuid)
        st.policy.authorize(req.context, DELETE, {"project_id": group.project_id})
        server_groups.delete_group(conn, group_uuid)
    return no_content()


def delete_member(req: Request, st: AppState) -> Response:
    group_uuid = path_uuid(req, "uuid", "server group")
    consumer_uuid = path_uuid(req, "consumer_uuid", "consumer")
    with st.store.write() as conn:
        group = server_groups.get(conn, group_uuid)
        st.policy.authorize(req.context, DELETE_MEMBER, {"project_id": group.project_id})
        server_groups.remove_member(conn, group_uuid, consumer_uuid)
    return no_content()
