"""Policy enforcement with Placement's rule names and both of its default sets.

``legacy`` reproduces Placement with ``enforce_new_defaults=False`` (a rule passes when the
old *or* the new default passes); ``secure`` is the new secure-RBAC defaults with project
scope enforced. A policy file (YAML or JSON, Placement's rule names) overrides any rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import yaml

from berth.api.errors import Forbidden
from berth.api.http import Context
from berth.api.policy_defaults import LEGACY_DEFAULTS, SECURE_DEFAULTS, SYSTEM_SCOPE_OK
from berth.api.policy_rules import Always, Check, Or, RuleSyntaxError, parse


class PolicyFileError(ValueError):
    pass


def load_policy_file(path: Path) -> dict[str, str]:
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise PolicyFileError(f"cannot parse policy file {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise PolicyFileError(f"policy file {path} must map rule names to rule strings")
    return data


class Enforcer:
    def __init__(self, defaults: str = "legacy", overrides: Mapping[str, str] | None = None):
        if defaults not in ("legacy", "secure"):
            raise ValueError("policy defaults must be 'legacy' or 'secure'")
        self.secure = defaults == "secure"
        self.rules: dict[str, Check] = {}
        for name, new_rule in SECURE_DEFAULTS.items():
            check = parse(new_rule)
            if not self.secure and name in LEGACY_DEFAULTS:
                check = Or((parse(LEGACY_DEFAULTS[name]), check))
            self.rules[name] = check
        for name, rule in (overrides or {}).items():
            try:
                self.rules[name] = parse(rule)
            except RuleSyntaxError as exc:
                raise PolicyFileError(str(exc)) from exc
        self.overridden = frozenset(overrides or ())

    def _resolve(self, name: str) -> Check:
        return self.rules.get(name, Always(False))

    def allowed(self, ctx: Context, rule: str, target: Mapping[str, object] | None = None) -> bool:
        if (
            self.secure
            and ctx.system_scope
            and rule not in SYSTEM_SCOPE_OK
            and rule not in self.overridden
        ):
            # Placement's rules are project-scoped: with scope enforced, a system-scoped
            # token is refused before the rule is even looked at.
            return False
        creds: dict[str, object] = {
            "roles": sorted(ctx.roles),
            "project_id": ctx.project_id,
            "user_id": ctx.user_id,
            "system_scope": ctx.system_scope,
            "is_admin": ctx.is_admin,
        }
        tgt: dict[str, object] = {"project_id": ctx.project_id, "user_id": ctx.user_id}
        tgt.update(target or {})
        return self._resolve(rule)(creds, tgt, self._resolve)

    def authorize(
        self, ctx: Context, rule: str, target: Mapping[str, object] | None = None
    ) -> None:
        if not self.allowed(ctx, rule, target):
            raise Forbidden(f"Policy does not allow {rule} to be performed.")
