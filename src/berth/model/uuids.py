"""UUID text as Placement accepts it: dashed or not, any case, optionally ``{}``/``urn:uuid:``.

Clients (and Placement's own tests) send dashless uuids and expect them to mean the same
provider as the dashed form, so every uuid that gets stored is first normalized to the
canonical lower-case dashed text.
"""

from __future__ import annotations

import uuid


def _bare(text: str) -> str:
    return text.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "").lower()


def is_uuid_like(value: object) -> bool:
    """Whether ``value`` is text naming a uuid in any form Placement accepts."""
    if not isinstance(value, str):
        return False
    try:
        return uuid.UUID(value).hex == _bare(value)
    except ValueError:
        return False


def normalize(text: str) -> str:
    """The canonical dashed lower-case form of uuid-like ``text``."""
    return str(uuid.UUID(text))
