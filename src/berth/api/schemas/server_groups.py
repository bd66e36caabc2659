"""Request schemas for server groups (``/berth/v1/server_groups``).

The body is Nova's 2.64 server group (one ``policy``, ``rules`` for anti-affinity's
``max_server_per_host``) without Nova's wrapping object, plus the owner, which a service
or an admin may set for a project (Nova's API creates groups on its users' behalf).
``uuid`` may be given so a group Nova already knows keeps its identity here.
"""

from __future__ import annotations

from typing import Any

from berth.model.server_group import MAX_NAME_LENGTH, POLICIES

MAX_PER_HOST = 2**31 - 1

# Text every engine stores: no NUL (PostgreSQL refuses it) and no lone UTF-16 surrogate
# (no driver can encode one), so such input is a 400 here instead of a 500 there.
STORABLE = r"^[^\x00\ud800-\udfff]*$"
# ... and for names, no leading or trailing whitespace either: MySQL's PAD SPACE collation
# would call "a" and "a " the same name while PostgreSQL and SQLite tell them apart.
TRIMMED = r"^(?=[^\x00\ud800-\udfff]*$)\S(?:[\s\S]*\S)?$"

NAME: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME_LENGTH,
    "pattern": TRIMMED,
}
_OWNER: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME_LENGTH,
    "pattern": TRIMMED,
}

# POST /berth/v1/server_groups
CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": NAME,
        "policy": {"type": "string", "enum": list(POLICIES)},
        "rules": {
            "type": "object",
            "properties": {
                "max_server_per_host": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_PER_HOST,
                },
            },
            "additionalProperties": False,
        },
        "project_id": _OWNER,
        "user_id": _OWNER,
        "uuid": {"type": "string", "format": "uuid"},
    },
    "required": ["name", "policy"],
    "additionalProperties": False,
}

# GET /berth/v1/server_groups
LIST_QUERY: dict[str, Any] = {
    "type": "object",
    "properties": {"project_id": _OWNER},
    "additionalProperties": False,
}
