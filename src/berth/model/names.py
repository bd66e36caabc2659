"""Resource class and trait names: the standard sets and the rules for custom ones.

The standard names come from the ``os-resource-classes`` and ``os-traits`` packages so
that berth agrees with Nova and every other OpenStack service on spelling; custom names
must carry the ``CUSTOM_`` prefix, which is what keeps them from ever colliding with a
standard name added in a later release of those packages.
"""

from __future__ import annotations

import re
from functools import cache

import os_resource_classes
import os_traits

CUSTOM_PREFIX = "CUSTOM_"
CUSTOM_NAME_RE = re.compile(r"^CUSTOM_[A-Z0-9_]+$")
# Placement's name limit for resource classes and traits.
MAX_NAME_LENGTH = 255


@cache
def standard_resource_classes() -> tuple[str, ...]:
    """Standard resource classes in their canonical order (the order fixes their ids)."""
    return tuple(os_resource_classes.STANDARDS)


@cache
def standard_traits() -> frozenset[str]:
    return frozenset(os_traits.get_traits())


def is_custom(name: str) -> bool:
    return name.startswith(CUSTOM_PREFIX)


def is_valid_custom_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and CUSTOM_NAME_RE.match(name) is not None
