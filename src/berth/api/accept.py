"""``Accept`` header negotiation (RFC 7231 section 5.3.2), as Placement's WebOb does it.

Two decisions depend on it: whether a JSON resource may answer at all (406 "Only
application/json is provided" otherwise) and which format an error body takes (a browser
asking for ``text/html`` gets a page; clients that name JSON, name nothing, or send
``*/*`` get Placement's JSON errors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAM = re.compile(rf"\s*;\s*({_TOKEN})=({_TOKEN}|{_QUOTED})")
_RANGE = re.compile(rf"\s*({_TOKEN})/({_TOKEN})")
_QVALUE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)")


@dataclass(frozen=True, slots=True)
class MediaRange:
    type: str
    subtype: str
    params: tuple[tuple[str, str], ...]
    q: float


def _parse_range(text: str) -> MediaRange | None:
    m = _RANGE.match(text)
    if m is None:
        return None
    mtype, subtype = m.group(1).lower(), m.group(2).lower()
    if mtype == "*" and subtype != "*":
        return None
    pos = m.end()
    params: list[tuple[str, str]] = []
    q = 1.0
    while pos < len(text.rstrip()):
        pm = _PARAM.match(text, pos)
        if pm is None:
            return None
        name, value = pm.group(1).lower(), pm.group(2)
        pos = pm.end()
        if name == "q":
            if not _QVALUE.fullmatch(value):
                return None
            q = float(value)
            break  # what follows the weight are accept-extensions, irrelevant here
        params.append((name, value))
    return MediaRange(mtype, subtype, tuple(params), q)


def parse(header: str) -> list[MediaRange] | None:
    """The header's media ranges, or None when it is not a valid Accept header."""
    ranges: list[MediaRange] = []
    for element in header.split(","):
        if not element.strip():
            continue
        parsed = _parse_range(element)
        if parsed is None:
            return None
        ranges.append(parsed)
    return ranges


def _quality(ranges: list[MediaRange], offer: str) -> float:
    """The weight of the most specific range matching ``offer`` (0 when none matches)."""
    otype, _, osub = offer.partition("/")
    best = (0, 0.0)
    for r in ranges:
        if r.type == otype and r.subtype == osub:
            specificity = 3
        elif r.type == otype and r.subtype == "*":
            specificity = 2
        elif r.type == "*":
            specificity = 1
        else:
            continue
        if specificity > best[0]:
            best = (specificity, r.q)
    return best[1]


def acceptable(header: str | None, offers: tuple[str, ...]) -> list[str]:
    """Offers the client accepts, best first (ties keep the order of ``offers``).

    A missing or malformed header accepts everything, as WebOb treats it.
    """
    if header is None:
        return list(offers)
    ranges = parse(header)
    if ranges is None:
        return list(offers)
    weighted = [(_quality(ranges, o), i, o) for i, o in enumerate(offers)]
    return [o for q, _, o in sorted(weighted, key=lambda w: (-w[0], w[1])) if q > 0]


def is_explicit(header: str | None) -> bool:
    """Whether the client really asked for something (a valid, non-empty header)."""
    if header is None:
        return False
    ranges = parse(header)
    return bool(ranges)


def error_format(header: str | None) -> str:
    """The media type of an error body: HTML, JSON or plain text, as the client prefers.

    No header, an empty one or a bare ``*/*`` means JSON: Placement rewrites those to
    ``application/json`` before anything else so API clients always get parseable errors.
    """
    if header is None or header.strip() in ("", "*/*"):
        return "application/json"
    best = acceptable(header, ("text/html", "application/json"))
    return best[0] if best else "text/plain"
