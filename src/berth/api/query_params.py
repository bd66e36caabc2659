"""Parsers for the query parameters Placement shares between its list endpoints.

Each parser turns query-string text into a value from ``berth.model.filters`` (or a plain
typed value) and answers malformed input with a 400 worded as Placement words it, since
clients and Placement's own tests match on those messages. They only parse: whether a
named trait or resource class exists is the store's question, asked later.

Used by GET /resource_providers and GET /allocation_candidates; keep the names stable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from berth.api.errors import BadRequest
from berth.model.filters import AggregateFilter, TraitFilter
from berth.model.inventory import MAX_INT
from berth.model.uuids import is_uuid_like, normalize

Version = tuple[int, int]

INVALID = "Invalid query string parameters"
_RESOURCES_FORM = (
    "Badly formed resources parameter. Expected resources query string parameter in "
    "form: ?resources=VCPU:2,MEMORY_MB:1024. Got: {got}."
)
_MEMBER_OF_BAD_UUID = (
    f"{INVALID}: Expected 'member_of' parameter to contain valid UUID(s). Got: {{got}}"
)


def check_keys(keys: Iterable[str], allowed: Iterable[str]) -> None:
    """Refuse parameters the endpoint does not know at this microversion (400).

    Worded like the JSON-schema failure Placement reports for its query schemas.
    """
    allowed_set = frozenset(allowed)
    unexpected = sorted({k for k in keys if k not in allowed_set})
    if unexpected:
        listed = ", ".join(repr(k) for k in unexpected)
        verb = "was" if len(unexpected) == 1 else "were"
        raise BadRequest(
            f"{INVALID}: Additional properties are not allowed ({listed} {verb} unexpected)"
        )


def last(query: Mapping[str, Sequence[str]], key: str) -> str | None:
    """The value of a parameter that may appear once; a repeat overrides, as in Placement."""
    values = query.get(key)
    return values[-1] if values else None


def parse_uuid(text: str, key: str = "uuid") -> str:
    """A uuid-valued parameter, normalized to canonical dashed form (400 if not a uuid)."""
    if not is_uuid_like(text):
        raise BadRequest(f"{INVALID}: {text!r} is not a 'uuid' (parameter {key!r})")
    return normalize(text)


def parse_in_tree(text: str) -> str:
    """``in_tree=<uuid>``: the uuid of any provider in the wanted tree (400 if malformed)."""
    return parse_uuid(text, "in_tree")


def parse_resources(text: str) -> dict[str, int]:
    """``resources=VCPU:2,MEMORY_MB:1024`` -> ``{"VCPU": 2, "MEMORY_MB": 1024}``.

    Every amount must be an integer >= 1. A class named twice keeps its last amount.
    Whether the classes exist is not checked here.
    """
    if not text:
        raise BadRequest(_RESOURCES_FORM.format(got="empty string"))
    result: dict[str, int] = {}
    for part in text.split(","):
        pieces = part.split(":")
        if len(pieces) != 2:
            raise BadRequest(_RESOURCES_FORM.format(got=part))
        name, amount_text = pieces
        try:
            amount = int(amount_text)
        except ValueError as exc:
            raise BadRequest(
                f"Requested resource {name} expected positive integer amount. Got: {amount_text}."
            ) from exc
        if amount < 1:
            raise BadRequest(f"Requested resource {name} requires amount >= 1. Got: {amount}.")
        if amount > MAX_INT:
            # No inventory can hold more than MAX_INT units; say so instead of querying.
            raise BadRequest(
                f"Requested resource {name} amount must be at most {MAX_INT}. Got: {amount}."
            )
        result[name] = amount
    return result


def _required_form(version: Version) -> str:
    return "HW_CPU_X86_VMX,!CUSTOM_MAGIC" if version >= (1, 22) else "HW_CPU_X86_VMX,CUSTOM_MAGIC"


def parse_required(values: Sequence[str], version: Version, key: str = "required") -> TraitFilter:
    """``required`` parameters -> TraitFilter.

    ``A,B`` requires both; from 1.22 ``!A`` forbids A; from 1.39 ``in:A,B`` requires any
    one of A and B, and the parameter may repeat (each repeat ANDs). Before 1.39 only the
    last occurrence counts, as Placement reads it. ``key`` names the parameter in messages
    (``required1`` etc. for granular groups).
    """
    if version < (1, 39):
        values = values[-1:]
    required: set[str] = set()
    forbidden: set[str] = set()
    any_of: list[frozenset[str]] = []

    def bad(value: str) -> BadRequest:
        return BadRequest(
            f"{INVALID}: Expected '{key}' parameter value of the form: "
            f"{_required_form(version)}. Got: {value}"
        )

    for value in values:
        if value.startswith("in:"):
            if version < (1, 39):
                raise BadRequest(
                    "The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported since "
                    "microversion 1.39."
                )
            names = value[3:].split(",")
            if any(not n or n.startswith("!") for n in names):
                raise bad(value)
            any_of.append(frozenset(names))
            continue
        for name in value.split(","):
            if name.startswith("!") and version >= (1, 22):
                name = name[1:]
                target = forbidden
            else:
                target = required
            if not name or name.startswith("!"):
                raise bad(value)
            target.add(name)
    return TraitFilter(
        required=frozenset(required), forbidden=frozenset(forbidden), any_of=tuple(any_of)
    )


def parse_member_of(
    values: Sequence[str], version: Version, key: str = "member_of"
) -> AggregateFilter:
    """``member_of`` parameters -> AggregateFilter.

    ``member_of=U`` or ``member_of=in:U1,U2`` (any one of) since 1.3; repeats AND together
    from 1.24; ``!U`` / ``!in:U1,U2`` (none of) from 1.32. ``key`` names the parameter in
    messages (``member_of1`` etc. for granular groups).
    """
    if len(values) > 1 and version < (1, 24):
        raise BadRequest(f"Multiple {key} parameters are not supported")
    any_of: list[frozenset[str]] = []
    forbidden: set[str] = set()
    for value in values:
        text = value
        negated = text.startswith("!")
        if negated:
            if version < (1, 32):
                raise BadRequest(
                    f"Forbidden {key} parameters are not supported in the specified microversion"
                )
            text = text[1:]
        if text.startswith("in:"):
            uuids = text[3:].split(",")
        else:
            uuids = text.split(",")
            if len(uuids) > 1:
                raise BadRequest(
                    f"Multiple values for '{key}' must be prefixed with the 'in:' or '!in:' "
                    "keyword using the valid microversion."
                )
        if not all(is_uuid_like(u) for u in uuids):
            raise BadRequest(
                _MEMBER_OF_BAD_UUID.replace("'member_of'", f"'{key}'").format(got=value)
            )
        if negated:
            forbidden.update(uuids)
        else:
            any_of.append(frozenset(uuids))
    return AggregateFilter(any_of=tuple(any_of), forbidden=frozenset(forbidden))
