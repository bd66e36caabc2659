"""Comparison expressions inside extra specs and image properties, parsed once.

Two filters of Nova's compare a host's (or its aggregates') attributes with a value an
operator wrote in a flavor: ``capabilities:cpu_info:vendor=Intel`` and
``aggregate_instance_extra_specs:ssd=<in> true``. The value may start with an operator
(``=``, ``==``, ``!=``, ``>=``, ``<=``, ``s==``, ``s!=``, ``s<``, ``s<=``, ``s>``, ``s>=``,
``<in>``, ``<all-in>``, ``<or>``); Nova re-parses that text for every host. Here it is
parsed when the request is translated, so a malformed value ("``>= fast``" for a number)
is refused up front with the key named, and the filters only evaluate ``SpecMatch.matches``.

``img_hv_requested_version`` uses a different syntax (``>=6.0,<8``, Python's version
predicates); ``VersionBound`` holds one comparison of it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from berth.model.errors import InvalidError


class MatchOp(StrEnum):
    """Nova's extra spec operators; ``TEXT`` is a plain value compared as a whole string."""

    TEXT = ""
    NUM_AT_LEAST = "="  # Nova's "=" is numeric "greater than or equal", not equality
    NUM_EQ = "=="
    NUM_NE = "!="
    NUM_GE = ">="
    NUM_LE = "<="
    STR_EQ = "s=="
    STR_NE = "s!="
    STR_LT = "s<"
    STR_LE = "s<="
    STR_GT = "s>"
    STR_GE = "s>="
    IN = "<in>"  # the operand is a substring of (or an element of) the value
    ALL_IN = "<all-in>"  # every operand is in the value
    OR = "<or>"  # the value equals one of the operands


_NUMERIC = frozenset(
    {MatchOp.NUM_AT_LEAST, MatchOp.NUM_EQ, MatchOp.NUM_NE, MatchOp.NUM_GE, MatchOp.NUM_LE}
)
_OPS = {op.value: op for op in MatchOp if op is not MatchOp.TEXT}


@dataclass(frozen=True, slots=True)
class SpecMatch:
    """A parsed spec value: the operator and its operands (one, except ``<or>``/``<all-in>``)."""

    op: MatchOp
    operands: tuple[str, ...]

    def matches(self, value: str | Collection[str]) -> bool:
        """Whether a host attribute ``value`` satisfies this spec, with Nova's semantics.

        ``value`` is text, or a collection of texts for list-valued attributes (CPU
        features, an aggregate key holding several comma-separated values): a collection
        matches when any of its members does, except for ``<in>``/``<all-in>``, which test
        membership in the collection itself.
        """
        if isinstance(value, str):
            return self._one(value)
        if self.op is MatchOp.IN:
            return self.operands[0] in value
        if self.op is MatchOp.ALL_IN:
            return all(operand in value for operand in self.operands)
        return any(self._one(item) for item in value)

    def _one(self, value: str) -> bool:
        op, operands = self.op, self.operands
        if op is MatchOp.TEXT:
            return value == operands[0]
        if op is MatchOp.OR:
            return value in operands
        if op is MatchOp.IN:
            return operands[0] in value
        if op is MatchOp.ALL_IN:
            return all(operand in value for operand in operands)
        if op in _NUMERIC:
            try:
                have = float(value)
            except ValueError:
                return False
            return _compare_numbers(op, have, float(operands[0]))
        return _compare_text(op, value, operands[0])


def _compare_numbers(op: MatchOp, have: float, want: float) -> bool:
    if op is MatchOp.NUM_EQ:
        return have == want
    if op is MatchOp.NUM_NE:
        return have != want
    if op is MatchOp.NUM_LE:
        return have <= want
    return have >= want  # "=" and ">="


def _compare_text(op: MatchOp, have: str, want: str) -> bool:
    if op is MatchOp.STR_EQ:
        return have == want
    if op is MatchOp.STR_NE:
        return have != want
    if op is MatchOp.STR_LT:
        return have < want
    if op is MatchOp.STR_LE:
        return have <= want
    if op is MatchOp.STR_GT:
        return have > want
    return have >= want


def parse_match(key: str, text: str) -> SpecMatch:
    """Parse the value of spec ``key``; a malformed operator expression names the key."""
    words = text.split()
    op = _OPS.get(words[0]) if words else None
    if op is None:
        return SpecMatch(MatchOp.TEXT, (text,))
    operands = words[1:]
    if not operands:
        raise InvalidError(f"{key}: operator {op.value} needs a value after it")
    if op is MatchOp.OR:
        # "<or> a <or> b": operands at odd positions, "<or>" between them
        if any(w != MatchOp.OR.value for w in words[::2]) or len(words) % 2:
            raise InvalidError(f"{key}: expected '<or> A <or> B ...', got {text!r}")
        return SpecMatch(op, tuple(words[1::2]))
    if op is MatchOp.ALL_IN:
        return SpecMatch(op, tuple(operands))
    if len(operands) != 1:
        raise InvalidError(f"{key}: operator {op.value} takes one value, got {text!r}")
    if op in _NUMERIC:
        try:
            float(operands[0])
        except ValueError:
            raise InvalidError(
                f"{key}: operator {op.value} compares numbers; {operands[0]!r} is not a number"
            ) from None
    return SpecMatch(op, (operands[0],))


_BOUND = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(\d+(?:\.\d+)*)\s*$")


@dataclass(frozen=True, slots=True)
class VersionBound:
    """One comparison of a version predicate, e.g. ``>= 6.0``: operator and version parts."""

    op: str
    version: tuple[int, ...]

    def satisfied_by(self, version: tuple[int, ...]) -> bool:
        width = max(len(version), len(self.version))
        have = version + (0,) * (width - len(version))
        want = self.version + (0,) * (width - len(self.version))
        return {
            "<": have < want,
            "<=": have <= want,
            "==": have == want,
            "!=": have != want,
            ">": have > want,
            ">=": have >= want,
        }[self.op]


def parse_version_predicate(key: str, text: str) -> tuple[VersionBound, ...]:
    """``>=6.0,<8`` -> bounds that must all hold (the hypervisor version filter's syntax)."""
    bounds = []
    for part in text.split(","):
        found = _BOUND.match(part)
        if found is None:
            raise InvalidError(
                f"{key}: expected comparisons like '>=6.0' or '>=2.6,<3', got {text!r}"
            )
        bounds.append(
            VersionBound(found.group(1), tuple(int(p) for p in found.group(2).split(".")))
        )
    return tuple(bounds)
