"""Server groups as values: Nova's affinity policies and the members placed under them.

A server group says where its members may land relative to each other: all on one host
(``affinity``), each on a different host (``anti-affinity``, optionally relaxed to at most
``max_server_per_host`` per host), or the same as a preference the weighers honour rather
than a rule the filters enforce (``soft-*``). The scheduler's filters read these values;
the database keeps them (``berth.db.server_groups``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

AFFINITY = "affinity"
ANTI_AFFINITY = "anti-affinity"
SOFT_AFFINITY = "soft-affinity"
SOFT_ANTI_AFFINITY = "soft-anti-affinity"
POLICIES: tuple[str, ...] = (AFFINITY, ANTI_AFFINITY, SOFT_AFFINITY, SOFT_ANTI_AFFINITY)

# Longest name, project id and user id, as Nova stores them.
MAX_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ServerGroup:
    """One server group row. ``generation`` moves on every membership change, so a
    scheduler that decided against a stale member list loses its compare-and-swap."""

    id: int
    uuid: str
    name: str
    project_id: str
    user_id: str
    policy: str
    max_server_per_host: int | None
    generation: int
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def last_modified(self) -> datetime | None:
        return self.updated_at or self.created_at

    @property
    def per_host_limit(self) -> int | None:
        """How many members one host may hold under a hard rule; None for no limit.

        Only ``anti-affinity`` limits (to 1 unless ``max_server_per_host`` says more);
        affinity is a different question (the *same* host), soft policies never refuse.
        """
        if self.policy != ANTI_AFFINITY:
            return None
        return self.max_server_per_host or 1


@dataclass(frozen=True, slots=True)
class GroupMember:
    """A consumer (instance) in a group and the host it landed on, if placed yet."""

    consumer_uuid: str
    root_provider_id: int | None
    host_uuid: str | None
    host_name: str | None
    created_at: datetime | None


def violation(
    group: ServerGroup,
    members: Sequence[tuple[str, int | None]],
    placing: Sequence[tuple[str, int]],
) -> str | None:
    """Why adding ``placing`` (consumer, host root id) to ``members`` (consumer, host or
    None) would break the group's hard rule, or None when it holds. A consumer in both
    counts where it is being placed now (a rebuild moves it). Soft policies never break.

    The claim asks this with the members read under the group's row lock, so only a
    real conflict (two schedulers choosing the same host for an anti-affinity group, or
    different hosts for an affinity group) costs a re-decision, not every concurrent
    change of the membership."""
    moving = {consumer for consumer, _ in placing}
    hosts = [root for consumer, root in members if root is not None and consumer not in moving]
    hosts += [root for _, root in placing]
    if group.policy == AFFINITY and len(set(hosts)) > 1:
        return (
            f"affinity of group {group.name} needs one host, members would be on {len(set(hosts))}"
        )
    limit = group.per_host_limit
    if limit is not None:
        counts = Counter(hosts)
        crowded = sorted(root for root, n in counts.items() if n > limit)
        if crowded:
            return (
                f"anti-affinity of group {group.name} allows {limit} member(s) per host; "
                f"host id(s) {crowded} would hold more"
            )
    return None
