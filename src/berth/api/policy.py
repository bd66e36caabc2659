"""Policy enforcement with Placement's rule names and both of its default sets.

``legacy`` reproduces Placement with ``enforce_new_defaults=False`` (a rule passes when the
old *or* the new default passes); ``secure`` is the new secure-RBAC defaults only. In both,
Placement's rules are project-scoped, so system-scoped tokens are refused. A policy file
(YAML or JSON, Placement's rule names) replaces any rule's check, as oslo.policy does;
scope stays enforced because in oslo.policy scope belongs to the rule's registration, not
to its (overridable) check string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import yaml

from berth.api.errors import Forbidden
from berth.api.http import Context
from berth.api.policy_defaults import (
    LEGACY_DEFAULTS,
    SCOPED_RULES,
    SECURE_DEFAULTS,
    SYSTEM_SCOPE_OK,
)
from berth.api.policy_rules import Always, Check, Or, RuleSyntaxError, parse, references

POLICY_DEFAULTS = ("legacy", "secure")


class PolicyFileError(ValueError):
    """A policy file that cannot be used; raised at startup, never per request."""


def load_policy_file(path: Path) -> dict[str, str]:
    """Read a policy file: a mapping of rule name to rule string, in YAML or JSON.

    Every rule is parsed here so that a typo stops the server at startup with the file
    and rule named, instead of turning into 403s (or worker crashes) later.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(f"cannot read policy file {path}: {exc}") from exc
    try:
        # JSON is a subset of YAML, but a .json file gets JSON's clearer error messages.
        data = json.loads(text) if Path(path).suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise PolicyFileError(f"cannot parse policy file {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyFileError(f"policy file {path} must map rule names to rule strings")
    rules: dict[str, str] = {}
    for name, rule in data.items():
        if not isinstance(name, str) or not isinstance(rule, str):
            raise PolicyFileError(
                f"policy file {path}: rule {name!r} must be a string, got {rule!r}"
            )
        try:
            parse(rule)
        except RuleSyntaxError as exc:
            raise PolicyFileError(f"policy file {path}: rule {name!r}: {exc}") from exc
        rules[name] = rule
    Enforcer("legacy", rules)  # rule:NAME reference cycles, also before serving
    return rules


class Enforcer:
    """Answers "may this caller do that?" for Placement's rule names."""

    def __init__(
        self, defaults: str = "legacy", overrides: Mapping[str, str] | None = None
    ) -> None:
        if defaults not in POLICY_DEFAULTS:
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
                raise PolicyFileError(f"rule {name!r}: {exc}") from exc
        self.overridden = frozenset(overrides or ())
        self._reject_cycles()

    def _reject_cycles(self) -> None:
        """A rule reaching itself through ``rule:`` references would recurse forever."""
        done: set[str] = set()

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                chain = " -> ".join((*path[path.index(name) :], name))
                raise PolicyFileError(f"policy rules refer to each other in a cycle: {chain}")
            if name in done or name not in self.rules:
                return
            for ref in sorted(references(self.rules[name])):
                visit(ref, (*path, name))
            done.add(name)

        for name in sorted(self.rules):
            visit(name, ())

    def _resolve(self, name: str) -> Check:
        # An unknown rule (a typo in a rule:NAME reference) denies, as oslo.policy does.
        return self.rules.get(name, Always(False))

    def allowed(self, ctx: Context, rule: str, target: Mapping[str, object] | None = None) -> bool:
        """Whether ``ctx`` passes ``rule`` for ``target``.

        The target defaults to the caller's own project and user, as in Placement; a
        handler passes ``{"project_id": ...}`` when the object belongs to someone (the
        project whose usages are asked for).
        """
        if ctx.system_scope and rule in SCOPED_RULES and rule not in SYSTEM_SCOPE_OK:
            # Project-scoped rule, system-scoped token: refused before the check string.
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
        """Raise 403 unless ``ctx`` passes ``rule``; handlers call this before anything else."""
        if not self.allowed(ctx, rule, target):
            raise Forbidden(f"Policy does not allow {rule} to be performed.")
