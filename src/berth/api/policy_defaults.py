"""Placement's policy rules and their defaults, legacy and secure-RBAC.

Rule names are Placement's, so an operator's existing policy file applies unchanged.
``SECURE_DEFAULTS`` are the new defaults (project-scoped; admin or service role, and
project readers may see their own project's usages); ``LEGACY_DEFAULTS`` are the old
``admin_api`` rules, OR-ed with the new ones when berth runs with ``--policy-defaults
legacy`` (Placement's ``enforce_new_defaults = False``).
"""

from __future__ import annotations

ADMIN = "role:admin"
SERVICE = "role:service"
ADMIN_OR_SERVICE = "rule:admin_or_service_api"
PROJECT_READER_OR_ADMIN_OR_SERVICE = (
    "(role:reader and project_id:%(project_id)s) or rule:admin_or_service_api"
)

BASE_RULES: dict[str, str] = {
    "admin_api": ADMIN,
    "service_api": SERVICE,
    "admin_or_service_api": f"{ADMIN} or {SERVICE}",
    "project_reader_or_admin_or_service_api": PROJECT_READER_OR_ADMIN_OR_SERVICE,
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
    "placement:reshaper:reshape",
)

SECURE_DEFAULTS: dict[str, str] = {
    **BASE_RULES,
    **{name: ADMIN_OR_SERVICE for name in _ADMIN_OR_SERVICE_RULES},
    "placement:usages": PROJECT_READER_OR_ADMIN_OR_SERVICE,
}

LEGACY_DEFAULTS: dict[str, str] = {
    name: "rule:admin_api" for name in (*_ADMIN_OR_SERVICE_RULES, "placement:usages")
}

RULE_NAMES: tuple[str, ...] = tuple(SECURE_DEFAULTS)

# Rules a system-scoped token may pass even with scope enforced (none in Placement).
SYSTEM_SCOPE_OK: frozenset[str] = frozenset()
