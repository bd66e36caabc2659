"""GET /allocation_candidates query strings -> ``CandidateRequest``.

Which parameters exist depends on the microversion (1.16 limit, 1.17 required, 1.21
member_of, 1.25 suffixed groups and group_policy, 1.31 in_tree, 1.33 free-form suffixes,
1.35 root_required, 1.36 same_subtree and resourceless groups). The parameter names are
checked with a JSON schema built per microversion, so unknown names are refused with the
same "Invalid query string parameters: ..." text Placement gives; single values are
parsed by the shared parsers in ``berth.api.query_params``; the rules that tie groups
together (orphans, group_policy, same_subtree) are checked here, in Placement's order and
with its error codes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from functools import cache
from typing import Any

from berth.api.errors import BadRequest
from berth.api.microversion import Version
from berth.api.query_params import INVALID, parse_member_of, parse_required, parse_resources
from berth.api.validation import validate_query
from berth.model.candidates import GROUP_POLICIES, CandidateRequest, RequestGroup
from berth.model.errors import QUERY_BAD_VALUE, QUERY_DUPLICATE_KEY, QUERY_MISSING_VALUE
from berth.model.filters import AggregateFilter, TraitFilter
from berth.model.uuids import is_uuid_like, normalize

GROUP_PARAMS = ("resources", "required", "member_of", "in_tree")
_KEY = re.compile(r"^(resources|required|member_of|in_tree)(.*)$")


def _suffix(version: Version) -> str:
    return "[a-zA-Z0-9_-]{1,64}" if version >= (1, 33) else "[1-9][0-9]*"


@cache
def schema_for(version: Version) -> dict[str, Any]:
    """Which parameter names are accepted at ``version`` (values are parsed later)."""
    text = {"type": "string"}
    group_params = ["resources"]
    if version >= (1, 17):
        group_params.append("required")
    if version >= (1, 21):
        group_params.append("member_of")
    if version >= (1, 31):
        group_params.append("in_tree")
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False}
    properties: dict[str, Any] = {}
    if version >= (1, 25):
        suffix = _suffix(version)
        schema["patternProperties"] = {f"^{name}({suffix})?$": text for name in group_params}
        properties["group_policy"] = {"type": "string", "enum": list(GROUP_POLICIES)}
    else:
        properties.update({name: text for name in group_params})
        schema["required"] = ["resources"]
    if version >= (1, 16):
        properties["limit"] = {"type": "string", "pattern": "^[1-9][0-9]*$"}
    if version >= (1, 35):
        properties["root_required"] = text
    if version >= (1, 36):
        properties["same_subtree"] = text
    schema["properties"] = properties
    return schema


# Placement reads the first group_policy but validates only the last; check them all.
_POLICY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"group_policy": {"type": "string", "enum": list(GROUP_POLICIES)}},
}


class _GroupText:
    """The raw parameters of one request group, collected before parsing."""

    def __init__(self) -> None:
        self.params: dict[str, list[str]] = {}


def parse(query: Sequence[tuple[str, str]], version: Version) -> CandidateRequest:
    """Parse and check the whole query string (400 with Placement's wording on errors)."""
    values: dict[str, list[str]] = {}
    for key, value in query:
        # Surrounding blanks are not part of any value (clients wrapping long URLs leave
        # them behind); Placement ignores them too.
        values.setdefault(key, []).append(value.strip())
    validate_query(schema_for(version), {k: v[-1] for k, v in values.items()})
    for policy in values.get("group_policy", [])[:-1]:
        validate_query(_POLICY_SCHEMA, {"group_policy": policy})

    limit = _limit(values["limit"][0]) if "limit" in values else None
    group_policy = values["group_policy"][0] if "group_policy" in values else None
    root_traits = _root_required(values.get("root_required", []))
    same_subtrees = _same_subtree_sets(values.get("same_subtree", []))

    texts: dict[str, _GroupText] = {}
    for key, vals in values.items():
        m = _KEY.match(key)
        if m is None:
            continue
        texts.setdefault(m.group(2), _GroupText()).params[m.group(1)] = vals
    groups = [_group(suffix, texts[suffix].params, version) for suffix in sorted(texts)]

    _check_groups(groups, texts, same_subtrees, version)
    _check_conflicts(groups, version)
    if group_policy is None and sum(1 for g in groups if g.use_same_provider) > 1:
        raise BadRequest(
            'The "group_policy" parameter is required when specifying more than one '
            '"resources{N}" parameter.'
        )
    return CandidateRequest(
        groups=tuple(groups),
        group_policy=group_policy,
        limit=limit,
        root_traits=root_traits,
        same_subtrees=same_subtrees,
        nested_aware=version >= (1, 29),
    )


def _group(suffix: str, params: dict[str, list[str]], version: Version) -> RequestGroup:
    resources: dict[str, int] = {}
    if "resources" in params:
        resources = parse_resources(params["resources"][-1])
    traits = TraitFilter()
    if "required" in params:
        traits = parse_required(params["required"], version, key=f"required{suffix}")
    member_of = AggregateFilter()
    if "member_of" in params:
        member_of = parse_member_of(params["member_of"], version, key=f"member_of{suffix}")
    in_tree = None
    if "in_tree" in params:
        text = params["in_tree"][-1]
        if not is_uuid_like(text):
            raise BadRequest(
                f"{INVALID}: Expected 'in_tree{suffix}' parameter to be a format of uuid. "
                f"Got: {text}"
            )
        in_tree = normalize(text)
    return RequestGroup(
        suffix=suffix, resources=resources, traits=traits, member_of=member_of, in_tree=in_tree
    )


def _check_groups(
    groups: list[RequestGroup],
    texts: dict[str, _GroupText],
    same_subtrees: tuple[tuple[str, ...], ...],
    version: Version,
) -> None:
    """Every group needs resources, except (from 1.36) suffixed ones named in same_subtree."""
    if version >= (1, 36) and groups and not any(g.resources for g in groups):
        raise BadRequest(
            "There must be at least one resources or resources[$S] parameter.",
            code=QUERY_MISSING_VALUE,
        )
    exempt = version >= (1, 36)
    orphans = [g for g in groups if not g.resources and not (exempt and g.use_same_provider)]
    required = [f"required{g.suffix}" for g in orphans if "required" in texts[g.suffix].params]
    if required:
        raise BadRequest(
            "All traits parameters must be associated with resources.  Found the following "
            f"orphaned traits keys: {', '.join(required)}"
        )
    member_of = [f"member_of{g.suffix}" for g in orphans if "member_of" in texts[g.suffix].params]
    if member_of:
        raise BadRequest(
            "All member_of parameters must be associated with resources. Found the following "
            f"orphaned member_of keys: {', '.join(member_of)}"
        )
    if orphans:
        raise BadRequest("All request groups must specify resources.")
    if not groups:
        raise BadRequest("At least one request group (`resources` or `resources{$S}`) is required.")
    known = {g.suffix for g in groups}
    named = {suffix for names in same_subtrees for suffix in names}
    unknown = sorted(named - known)
    if unknown:
        raise BadRequest(
            "Real suffixes should be specified in `same_subtree`: "
            f"{', '.join(unknown)} not found in request groups.",
            code=QUERY_BAD_VALUE,
        )
    resourceless = [g.suffix for g in groups if not g.resources and g.suffix not in named]
    if resourceless:
        raise BadRequest(
            "Resourceless suffixed group request should be specified in `same_subtree` "
            f"query param: bad group(s) - {', '.join(resourceless)}.",
            code=QUERY_BAD_VALUE,
        )


def _check_conflicts(groups: list[RequestGroup], version: Version) -> None:
    if version < (1, 22):
        return
    conflicts = [
        f"required{g.suffix}: ({', '.join(sorted(g.traits.conflicts))})"
        for g in groups
        if g.traits.conflicts
    ]
    if conflicts:
        raise BadRequest(
            "Conflicting required and forbidden traits found in the following traits keys: "
            + ", ".join(conflicts)
        )


def _root_required(values: list[str]) -> TraitFilter:
    """``root_required=A,!B`` (1.35): traits the anchor root must have / must not have."""
    if not values:
        return TraitFilter()
    if len(values) > 1:
        raise BadRequest(
            "Query parameter 'root_required' may be specified only once.",
            code=QUERY_DUPLICATE_KEY,
        )
    required: set[str] = set()
    forbidden: set[str] = set()
    for name in (n.strip() for n in values[0].split(",")):
        target = required
        if name.startswith("!"):
            name, target = name[1:], forbidden
        if not name or name.startswith("!"):
            raise BadRequest(
                f"{INVALID}: Expected 'root_required' parameter value of the form: "
                f"HW_CPU_X86_VMX,!CUSTOM_MAGIC. Got: {values[0]}",
                code=QUERY_BAD_VALUE,
            )
        target.add(name)
    conflicts = required & forbidden
    if conflicts:
        raise BadRequest(
            "Conflicting required and forbidden traits found in root_required: "
            + ", ".join(sorted(conflicts)),
            code=QUERY_BAD_VALUE,
        )
    return TraitFilter(required=frozenset(required), forbidden=frozenset(forbidden))


def _same_subtree_sets(values: list[str]) -> tuple[tuple[str, ...], ...]:
    """Each ``same_subtree`` parameter is one set of suffixes (duplicates squashed)."""
    sets = []
    for value in values:
        names = [n.strip() for n in value.split(",")]
        if any(not n for n in names):
            raise BadRequest(
                "Empty string (unsuffixed group) can not be specified in `same_subtree` "
                "query param.",
                code=QUERY_BAD_VALUE,
            )
        sets.append(tuple(dict.fromkeys(names)))
    return tuple(sets)


def _limit(text: str) -> int:
    """``limit`` as an int; a value too long for Python's int() is a 400, not a 500.

    Any limit beyond what a process could hold means "no limit" (and must not reach
    itertools.islice, which refuses it).
    """
    try:
        return min(int(text), sys.maxsize)
    except ValueError as exc:
        raise BadRequest(
            f"Invalid query string parameters: limit {text[:20]}... is too long"
        ) from exc
