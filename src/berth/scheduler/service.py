"""The scheduler's one entry point: translate, decide, claim; retry a lost race, bounded.

``Scheduler.schedule_many(requests)`` is what ``POST /berth/v1/schedule`` ends in, for the
requests a worker gathered meanwhile (``berth.scheduler.admission``); ``schedule`` is a
batch of one. A decision that loses its claim to a concurrent scheduler (capacity taken,
the server group changed, a pinned CPU claimed) is made again on fresh state, up to
``max_attempts`` times, with a short jittered pause so racing workers spread out.
``dry_run`` decides and explains without claiming anything.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import replace

from berth.db import server_groups
from berth.db.engine import Store
from berth.model.errors import ConflictError, DomainError, InvalidError, RetryableConflict
from berth.model.schedule import ScheduleRequest
from berth.scheduler import claim, registry
from berth.scheduler.config import SchedulerConfig
from berth.scheduler.pipeline import Decision, Pipeline
from berth.scheduler.specs import Translated, translate

# Distinct request shapes whose translation is kept (forgotten all at once when full).
_TRANSLATED_KEPT = 1024


class Scheduler:
    """Configured once per process (filters and weighers resolved at start-up)."""

    def __init__(self, store: Store, config: SchedulerConfig | None = None) -> None:
        self.store = store
        self.config = config or SchedulerConfig()
        self._translated: dict[object, Translated] = {}
        self.pipeline = Pipeline(
            self.config, registry.filters(self.config), registry.weighers(self.config)
        )

    def schedule(self, request: ScheduleRequest) -> Decision:
        """Decide and claim one request (a batch of one); raises its error."""
        (got,) = self.schedule_many([request])
        if isinstance(got, DomainError):
            raise got
        return got

    def schedule_many(self, requests: Sequence[ScheduleRequest]) -> list[Decision | DomainError]:
        """Decide ``requests`` together (one pass over the index, each seeing the plans
        of those before it) and claim them in one transaction; an answer per request, in
        order: its decision, or the error that is its answer (400 for a bad request, 409
        when the claim could not be made in ``max_attempts``)."""
        out: list[Decision | DomainError | None] = [None] * len(requests)
        pending: list[tuple[int, ScheduleRequest, Translated]] = []
        for k, request in enumerate(requests):
            try:
                spec = self._translate(request)
                pending.append((k, self._resolve_group(request), spec))
            except DomainError as exc:
                out[k] = exc
        lost: dict[int, list[str]] = {k: [] for k, _, _ in pending}
        for attempt in range(1, self.config.max_attempts + 1):
            if not pending:
                break
            decided = self.pipeline.decide_many(
                self.store, [(r, spec) for _, r, spec in pending], attempt=attempt
            )
            claims: list[tuple[int, ScheduleRequest, Translated, Decision]] = []
            for (k, request, spec), decision in zip(pending, decided, strict=True):
                if isinstance(decision, DomainError):
                    out[k] = decision
                    continue
                decision.attempts = attempt
                decision.notes.extend(lost[k])
                if not decision.ok or request.dry_run:
                    out[k] = decision
                else:
                    claims.append((k, request, spec, decision))
            results = claim.commit_many(
                self.store,
                [claim.Claim(r, d, spec.guest, spec.pci) for _, r, spec, d in claims],
            )
            pending = []
            for (k, request, spec, decision), error in zip(claims, results, strict=True):
                if error is None:
                    decision.claimed = True
                    out[k] = decision
                elif isinstance(error, (claim.LostRace, RetryableConflict)):
                    lost[k].append(f"attempt {attempt}: {error.message}")
                    pending.append((k, request, spec))
                else:
                    out[k] = error
            if pending:
                time.sleep(random.uniform(0, 0.004 * attempt))
        for k, _, _ in pending:
            out[k] = ConflictError(
                f"Could not claim after {self.config.max_attempts} attempts: other "
                f"schedulers kept taking the chosen hosts ({'; '.join(lost[k])}). Please retry.",
            )
        return [answer for answer in out if answer is not None]

    def _translate(self, request: ScheduleRequest) -> Translated:
        """``translate``, remembered per distinct flavor, image, ports and boot-from-volume
        (all it reads besides the configured aliases): a busy cloud asks for the same few
        flavors over and over. A request that does not translate raises every time."""
        key = (request.flavor, request.image, request.ports, request.boot_from_volume)
        try:
            hash(key)
        except TypeError:
            return translate(request, self.config.pci_aliases)
        spec = self._translated.get(key)
        if spec is None:
            spec = translate(request, self.config.pci_aliases)
            if len(self._translated) >= _TRANSLATED_KEPT:
                self._translated.clear()
            self._translated[key] = spec
        return spec

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
