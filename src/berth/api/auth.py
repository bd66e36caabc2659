"""Authentication: the development ``noauth`` mode, behaving like Placement's ``noauth2``.

Token ``admin`` is an admin; token ``user:project`` is that user in that project with no
roles; an ``X-Roles`` header (and ``X-Project-Id``/``OpenStack-System-Scope``) is honoured,
as keystonemiddleware would set them; no token at all is 401. In production berth sits
behind keystonemiddleware or a gateway that sets the same headers.
"""

from __future__ import annotations

from berth.api.errors import Unauthorized
from berth.api.http import Context, Request


def noauth_context(req: Request) -> Context:
    token = req.headers.get("x-auth-token")
    if token is None:
        raise Unauthorized("The request you have made requires authentication.")
    user_id, _, project_id = token.partition(":")
    project_id = project_id or user_id
    roles_header = req.headers.get("x-roles")
    if roles_header is not None:
        roles = frozenset(r.strip().lower() for r in roles_header.split(",") if r.strip())
    elif user_id == "admin":
        # keystone expands implied roles: admin implies member and reader.
        roles = frozenset({"admin", "member", "reader"})
    else:
        roles = frozenset()
    system_scope = req.headers.get("openstack-system-scope") or None
    header_project = req.headers.get("x-project-id") or req.headers.get("x-tenant-id")
    # A system-scoped token has no project unless one is named explicitly.
    project = header_project if system_scope else (header_project or project_id)
    return Context(
        user_id=req.headers.get("x-user-id") or user_id,
        project_id=project,
        roles=roles,
        system_scope=system_scope,
    )
