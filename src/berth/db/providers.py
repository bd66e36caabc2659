"""Resource providers: rows, lookups and tree bookkeeping.

(Core lookups shared by every resource; the full provider operations are built on these.)
"""

from __future__ import annotations

from sqlalchemy import Connection, Row, select

from berth.db import tables
from berth.model.errors import PROVIDER_NOT_FOUND, NotFoundError

RP = tables.resource_providers


def get_row(conn: Connection, uuid: str) -> Row[tuple[object, ...]]:
    """The provider row for ``uuid``, or 404 with Placement's wording."""
    row = conn.execute(select(RP).where(RP.c.uuid == uuid)).first()
    if row is None:
        raise NotFoundError(f"No resource provider with uuid {uuid} found", code=PROVIDER_NOT_FOUND)
    return row
