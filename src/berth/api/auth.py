"""Authentication: the development ``noauth`` mode, behaving like Placement's ``noauth2``.

Placement's own API tests (and every tool written against them) drive authorization this
way, so berth reads the headers exactly as Placement + oslo.context do:

* no ``X-Auth-Token`` at all is 401 (an empty token is still a token);
* the token ``user:project`` names the user and, unless the token is system-scoped, the
  project (``project`` defaults to ``user``);
* ``X-Roles`` (comma-separated) gives the roles; without it the token ``admin`` has the
  ``admin`` role and any other token none;
* ``X-Project-Id`` (then ``X-Tenant-Id``/``X-Tenant``) names the project over the token's,
  as keystonemiddleware would set it;
* ``OpenStack-System-Scope`` makes the token system-scoped: it has no project unless a
  header names one.

In production berth sits behind keystonemiddleware or a gateway that sets these headers.
"""

from __future__ import annotations

from berth.api.errors import Unauthorized
from berth.api.http import Context, Request


def _roles(header: str | None, user_id: str) -> frozenset[str]:
    if header is not None:
        # keystone roles compare case-insensitively; keep them lower-cased once here.
        return frozenset(r.strip().lower() for r in header.split(",") if r.strip())
    return frozenset({"admin"}) if user_id == "admin" else frozenset()


def noauth_context(req: Request) -> Context:
    token = req.headers.get("x-auth-token")
    if token is None:
        raise Unauthorized("The request you have made requires authentication.")
    user_id, _, token_project = token.partition(":")
    token_project = token_project or user_id
    system_scope = req.headers.get("openstack-system-scope") or None
    tenant = req.headers.get("x-tenant-id") if system_scope else token_project
    project = req.headers.get("x-project-id") or tenant or req.headers.get("x-tenant") or None
    return Context(
        user_id=user_id,
        project_id=project,
        roles=_roles(req.headers.get("x-roles"), user_id),
        system_scope=system_scope,
    )
