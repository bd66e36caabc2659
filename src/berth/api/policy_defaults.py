"""Placement's policy rules and their defaults, legacy and secure-RBAC.

Rule names are Placement's, so an operator's existing policy file applies unchanged.

``SECURE_DEFAULTS`` are the new (secure-RBAC) defaults, worked out from Placement's own
``*-secure-rbac.yaml`` API tests:

* every operation is open to the ``admin`` role (in any project: Placement is an
  infrastructure service, a project admin *is* the cloud admin) and to the ``service``
  role (nova, neutron, cyborg, ... acting with a service token);
* ``placement:reshaper:reshape`` is for services only: moving allocations between
  providers is something only the virt driver knows how to do consistently;
* ``placement:usages`` (``GET /usages?project_id=``) is also open to any reader of *that*
  project, so a project can see how much it consumes;
* project members and readers get nothing else.

``LEGACY_DEFAULTS`` are the old ``admin_api`` rules; with ``--policy-defaults legacy``
(Placement's ``[oslo_policy] enforce_new_defaults = False``) a rule passes when its old
*or* its new default passes.

Every ``placement:*`` rule is project-scoped (``SCOPED_RULES``): a system-scoped token is
refused whatever its roles, in both modes, as Placement does with ``enforce_scope``.
"""

from __future__ import annotations

ADMIN = "role:admin"
SERVICE = "role:service"
ADMIN_OR_SERVICE = "rule:admin_or_service_api"
SERVICE_ONLY = "rule:service_api"
PROJECT_READER_OR_ADMIN_OR_SERVICE = "rule:project_reader_or_admin_or_service_api"

# Rules only ever referenced by other rules (``rule:NAME``), never enforced directly.
BASE_RULES: dict[str, str] = {
    "admin_api": ADMIN,
    "service_api": SERVICE,
    "admin_or_service_api": f"{ADMIN} or {SERVICE}",
    "project_reader_api": "role:reader and project_id:%(project_id)s",
    "project_reader_or_admin_or_service_api": (
        "rule:project_reader_api or rule:admin_or_service_api"
    ),
}

_ADMIN_OR_SERVICE_RULES = (
    "placement:resource_providers:list",
    "placement:resource_providers:create",
    "placement:resource_providers:show",
    "placement:resource_providers:update",
    "placement:resource_providers:delete",
    "placement:resource_providers:inventories:list",
    "placement:resource_providers:inventories:create",
    "placement:resource_providers:inventories:show",
    "placement:resource_providers:inventories:update",
    "placement:resource_providers:inventories:delete",
    "placement:resource_providers:aggregates:list",
    "placement:resource_providers:aggregates:update",
    "placement:resource_providers:usages",
    "placement:resource_providers:allocations:list",
    "placement:resource_providers:traits:list",
    "placement:resource_providers:traits:update",
    "placement:resource_providers:traits:delete",
    "placement:resource_classes:list",
    "placement:resource_classes:create",
    "placement:resource_classes:show",
    "placement:resource_classes:update",
    "placement:resource_classes:delete",
    "placement:traits:list",
    "placement:traits:show",
    "placement:traits:update",
    "placement:traits:delete",
    "placement:allocations:list",
    "placement:allocations:manage",
    "placement:allocations:update",
    "placement:allocations:delete",
    "placement:allocation_candidates:list",
)

# The rules handlers enforce, with their secure-RBAC default.
OPERATION_DEFAULTS: dict[str, str] = {
    **{name: ADMIN_OR_SERVICE for name in _ADMIN_OR_SERVICE_RULES},
    "placement:reshaper:reshape": SERVICE_ONLY,
    "placement:usages": PROJECT_READER_OR_ADMIN_OR_SERVICE,
}

# berth's own extensions (``/berth/v1/...``), outside Placement's rule namespace. Bulk
# loading whole provider trees is an operator's job (onboarding, migration): admin only,
# in both modes; a policy file may open it to the service role.
# Server groups belong to a project: its members manage them, its readers see them
# (Nova's server group rules); legacy mode lets any user of the project (Nova's
# admin_or_owner). Aggregate metadata and host build records are the operator's: admin.
_GROUP_MEMBER = f"{ADMIN_OR_SERVICE} or (role:member and project_id:%(project_id)s)"
_GROUP_READER = f"{ADMIN_OR_SERVICE} or rule:project_reader_api"
_GROUP_RULES: dict[str, str] = {
    "berth:server_groups:create": _GROUP_MEMBER,
    "berth:server_groups:list": _GROUP_READER,
    "berth:server_groups:show": _GROUP_READER,
    "berth:server_groups:delete": _GROUP_MEMBER,
    "berth:server_groups:members:delete": _GROUP_MEMBER,
}
EXTENSION_DEFAULTS: dict[str, str] = {
    "berth:provider_trees:create": "rule:admin_api",
    **_GROUP_RULES,
    "berth:server_groups:list:all_projects": ADMIN_OR_SERVICE,
    "berth:aggregates:metadata:show": "rule:admin_api",
    "berth:aggregates:metadata:update": "rule:admin_api",
    "berth:aggregates:metadata:delete": "rule:admin_api",
    "berth:hosts:stats:show": "rule:admin_api",
    # nova-compute reports build results with its service role
    "berth:hosts:build_results:create": ADMIN_OR_SERVICE,
}
# A host's NUMA/PCI topology (/berth/v1/hosts/{uuid}/topology): admin only, likewise.
EXTENSION_DEFAULTS.update(
    {f"berth:topology:{op}": "rule:admin_api" for op in ("update", "show", "delete")}
)
# A host's capabilities (/berth/v1/hosts/{uuid}/capabilities): the compute service
# reports them with its service role.
EXTENSION_DEFAULTS.update(
    {f"berth:hosts:capabilities:{op}": ADMIN_OR_SERVICE for op in ("update", "show", "delete")}
)
# POST /berth/v1/schedule: like Nova's scheduler, called by services and admins only.
EXTENSION_DEFAULTS["berth:schedule"] = ADMIN_OR_SERVICE
# GET /berth/v1/scheduler (the effective scheduler configuration): for the same callers.
EXTENSION_DEFAULTS["berth:scheduler:show"] = ADMIN_OR_SERVICE

SECURE_DEFAULTS: dict[str, str] = {**BASE_RULES, **OPERATION_DEFAULTS, **EXTENSION_DEFAULTS}

LEGACY_DEFAULTS: dict[str, str] = {
    name: "rule:admin_api" for name in (*OPERATION_DEFAULTS, *EXTENSION_DEFAULTS)
} | {name: "rule:admin_api or project_id:%(project_id)s" for name in _GROUP_RULES}

RULE_NAMES: tuple[str, ...] = tuple(SECURE_DEFAULTS)

# Rules enforced with project scope: a system-scoped token fails them before any check.
SCOPED_RULES: frozenset[str] = frozenset((*OPERATION_DEFAULTS, *EXTENSION_DEFAULTS))

# Rules a system-scoped token may pass even with scope enforced (none in Placement).
SYSTEM_SCOPE_OK: frozenset[str] = frozenset()
