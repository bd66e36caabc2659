"""Placement's policy rule language: ``role:admin or (rule:x and project_id:%(project_id)s)``.

Operators already have policy files written in oslo.policy's syntax with Placement's rule
names; berth reads the same files. Supported: ``@`` (always), ``!`` (never), ``role:R``,
``rule:NAME``, ``KEY:VALUE`` checks against the credentials with ``%(target)s``
substitution, ``not``, ``and``, ``or`` and parentheses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

Creds = Mapping[str, object]
Target = Mapping[str, object]
Resolve = Callable[[str], "Check"]


class Check:
    def __call__(self, creds: Creds, target: Target, resolve: Resolve) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Always(Check):
    value: bool

    def __call__(self, creds: Creds, target: Target, resolve: Resolve) -> bool:
        return self.value


@dataclass(frozen=True)
class Not(Check):
    inner: Check

    def __call__(self, creds: Creds, target: Target, resolve: Resolve) -> bool:
        return not self.inner(creds, target, resolve)


@dataclass(frozen=True)
class And(Check):
    parts: tuple[Check, ...]

    def __call__(self, creds: Creds, target: Target, resolve: Resolve) -> bool:
        return all(p(creds, target, resolve) for p in self.parts)


@dataclass(frozen=True)
class Or(Check):
    parts: tuple[Check, ...]

    def __call__(self, creds: Creds, target: Target, resolve: Resolve) -> bool:
        return any(p(creds, target, resolve) for p in self.parts)


@dataclass(frozen=True)
class RuleRef(Check):
    name: str

    def __call__(self, creds: Creds, target: Target, resolve: Resolve) -> bool:
        return resolve(self.name)(creds, target, resolve)


@dataclass(frozen=True)
class Match(Check):
    """``key:value``: the credential ``key`` equals ``value`` (after target substitution).

    ``role:`` compares case-insensitively against the list of roles, as keystone roles are.
    """

    key: str
    value: str

    def __call__(self, creds: Creds, target: Target, resolve: Resolve) -> bool:
        try:
            expected = str(self.value % target) if "%(" in self.value else self.value
        except (KeyError, TypeError, ValueError):
            return False
        if self.key == "role":
            roles = creds.get("roles") or ()
            assert isinstance(roles, (list, tuple, set, frozenset))
            return expected.lower() in {str(r).lower() for r in roles}
        if expected.startswith("'") and expected.endswith("'") and len(expected) >= 2:
            expected = expected[1:-1]
        actual = creds.get(self.key)
        if isinstance(actual, bool):
            return str(actual).lower() == expected.lower()
        return actual is not None and str(actual) == expected


class RuleSyntaxError(ValueError):
    pass


def references(check: Check) -> set[str]:
    """The rule names ``check`` refers to (``rule:NAME``), to find reference cycles."""
    if isinstance(check, RuleRef):
        return {check.name}
    if isinstance(check, Not):
        return references(check.inner)
    if isinstance(check, (And, Or)):
        return set().union(*(references(p) for p in check.parts))
    return set()


def _tokenize(text: str) -> list[str]:
    """Split on white space, then peel parentheses off each word's ends.

    Only leading ``(`` and trailing ``)`` are peeled, and a trailing ``)`` only while the
    word's own parentheses stay balanced, so ``project_id:%(project_id)s)`` keeps its
    substitution intact, as oslo.policy reads it.
    """
    tokens: list[str] = []
    for word in text.split():
        lead = 0
        while word.startswith("("):
            lead += 1
            word = word[1:]
        tokens.extend("(" * lead)
        trail = 0
        while word.endswith(")") and word.count(")") > word.count("("):
            trail += 1
            word = word[:-1]
        if word:
            tokens.append(word)
        tokens.extend(")" * trail)
    return tokens


def parse(text: str) -> Check:
    """Parse a rule string; an empty rule is always true, as in oslo.policy."""
    tokens = _tokenize(text or "")
    if not tokens:
        return Always(True)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        return tok

    def parse_or() -> Check:
        parts = [parse_and()]
        while peek() is not None and peek().lower() == "or":  # type: ignore[union-attr]
            take()
            parts.append(parse_and())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def parse_and() -> Check:
        parts = [parse_not()]
        while peek() is not None and peek().lower() == "and":  # type: ignore[union-attr]
            take()
            parts.append(parse_not())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def parse_not() -> Check:
        if peek() is not None and peek().lower() == "not":  # type: ignore[union-attr]
            take()
            return Not(parse_not())
        return parse_atom()

    def parse_atom() -> Check:
        tok = peek()
        if tok is None:
            raise RuleSyntaxError(f"unexpected end of rule: {text!r}")
        take()
        if tok == "(":
            inner = parse_or()
            if peek() != ")":
                raise RuleSyntaxError(f"missing ')' in rule: {text!r}")
            take()
            return inner
        if tok == "@":
            return Always(True)
        if tok == "!":
            return Always(False)
        key, sep, value = tok.partition(":")
        if not sep:
            raise RuleSyntaxError(f"bad check {tok!r} in rule: {text!r}")
        if key == "rule":
            return RuleRef(value)
        return Match(key, value)

    result = parse_or()
    if pos != len(tokens):
        raise RuleSyntaxError(f"unexpected {tokens[pos]!r} in rule: {text!r}")
    return result
