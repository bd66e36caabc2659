"""A resource provider as the rest of berth sees it: an immutable value, no database rows.

Handlers render it, the db layer builds it; carrying the parent and root uuids (not ids)
keeps every consumer of a provider free of extra lookups to answer Placement's 1.14+ body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Provider:
    """One resource provider row, with its tree position resolved to uuids."""

    id: int
    uuid: str
    name: str
    generation: int
    parent_uuid: str | None
    root_uuid: str
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def last_modified(self) -> datetime | None:
        """What Placement reports as last-modified: the update time, else creation time."""
        return self.updated_at or self.created_at
