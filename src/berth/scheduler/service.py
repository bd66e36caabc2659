"""The scheduler's one entry point: translate, decide, claim; retry a lost race, bounded.

``Scheduler.schedule(request)`` is what ``POST /berth/v1/schedule`` calls. A decision that
loses its claim to a concurrent scheduler (capacity taken, the server group changed, a
pinned CPU claimed) is made again on fresh state, up to ``max_attempts`` times, with a
short jittered pause so racing workers spread out. ``dry_run`` decides and explains
without claiming anything.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

from berth.db import server_groups
from berth.db.engine import Store
from berth.model.errors import ConflictError, InvalidError, RetryableConflict
from berth.model.schedule import ScheduleRequest
from berth.scheduler import claim, registry
from berth.scheduler.config import SchedulerConfig
from berth.scheduler.pipeline import Decision, Pipeline
from berth.scheduler.specs import translate


class Scheduler:
    """Configured once per process (filters and weighers resolved at start-up)."""

    def __init__(self, store: Store, config: SchedulerConfig | None = None) -> None:
        self.store = store
        self.config = config or SchedulerConfig()
        self.pipeline = Pipeline(
            self.config, registry.filters(self.config), registry.weighers(self.config)
        )

    def schedule(self, request: ScheduleRequest) -> Decision:
        spec = translate(request, self.config.pci_aliases)
        request = self._resolve_group(request)
        lost: list[str] = []
        for attempt in range(1, self.config.max_attempts + 1):
            decision = self.pipeline.decide(self.store, request, spec, attempt=attempt)
            decision.attempts = attempt
            decision.notes.extend(lost)
            if not decision.ok or request.dry_run:
                return decision
            try:
                claim.commit(self.store, request, spec.guest, decision, spec.pci)
            except (claim.LostRace, RetryableConflict) as exc:
                lost.append(f"attempt {attempt}: {getattr(exc, 'message', str(exc))}")
                time.sleep(random.uniform(0, 0.004 * attempt))
                continue
            decision.claimed = True
            return decision
        raise ConflictError(
            f"Could not claim after {self.config.max_attempts} attempts: other schedulers "
            f"kept taking the chosen hosts ({'; '.join(lost)}). Please retry.",
        )

    def _resolve_group(self, request: ScheduleRequest) -> ScheduleRequest:
        """The request's server group must exist with the policy the request states."""
        ref = request.server_group
        if ref is None:
            return request
        with self.store.read() as conn:
            if ref.uuid is not None:
                group = server_groups.find(conn, ref.uuid)
            else:
                named = [
                    g
                    for g in server_groups.list_groups(conn, request.project_id)
                    if g.name == ref.name
                ]
                group = named[0] if len(named) == 1 else None
        if group is None:
            raise InvalidError(
                f"server_group {ref.uuid or ref.name} does not exist (create it with "
                "POST /berth/v1/server_groups first)"
            )
        if group.policy != ref.policy.value:
            raise InvalidError(
                f"server_group {group.uuid} has policy {group.policy}, not {ref.policy.value}"
            )
        if ref.uuid is None:
            request = replace(request, server_group=replace(ref, uuid=group.uuid))
        return request
