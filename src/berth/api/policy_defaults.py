"""Placement's policy rules and their defaults (legacy and secure-RBAC).

Placeholder set: the full rule list is filled in with the RBAC work; until then every
rule is admin-only, which is Placement's legacy default for nearly all of them.
"""

from __future__ import annotations

BASE_RULES: dict[str, str] = {
    "admin_api": "role:admin",
    "service_api": "role:service",
    "admin_or_service_api": "role:admin or role:service",
}

RULE_NAMES: tuple[str, ...] = ()

SECURE_DEFAULTS: dict[str, str] = {**BASE_RULES}
LEGACY_DEFAULTS: dict[str, str] = {}
SYSTEM_SCOPE_OK: frozenset[str] = frozenset()
