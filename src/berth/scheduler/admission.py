"""Requests that reach one worker together are decided and claimed together.

Every scheduling request needs the same fixed work besides its own: refresh the
resident index from the change log, read the facts (aggregate metadata, build failures,
groups), screen 10,000 hosts, weigh them, and one write transaction with its locks,
round trips and commit. Under load, requests arrive while another is being decided; a
worker that served them one by one would repeat that fixed work for each, and two of its
threads would race each other for the same hosts.

So each worker admits requests through one queue, Nomad's plan-queue idea applied
inside a worker: the first thread to arrive while no batch is running becomes the
*leader*; it takes every request queued by then (up to ``MAX_REQUESTS`` requests and
``MAX_INSTANCES`` instances), decides them in one pass — in arrival order, requests alike
taken together, each seeing what the ones decided before it planned — and claims them
in one transaction (``Scheduler.schedule_many``), then hands each answer to the thread
that asked and passes the lead to the first request that queued meanwhile. Nothing waits
for a batch to fill: an idle worker decides a lone request at once, a busy one batches
exactly what arrived while it was busy.

Correctness does not depend on batching: every claim is re-checked by the committer, and
a batch whose transaction fails is committed claim by claim. Dry runs skip the queue.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from berth.model.errors import DomainError
from berth.model.schedule import ScheduleRequest
from berth.scheduler.pipeline import Decision
from berth.scheduler.service import Scheduler

# A batch is bounded so that a request's latency is bounded too: at most this many
# requests, and no more instances than this (a single bigger request still goes alone).
MAX_REQUESTS = 64
MAX_INSTANCES = 400


@dataclass(eq=False)
class _Ticket:
    """One waiting request: woken exactly once, with its answer or to lead a batch (the
    batch it then leads starts with its own request).

    The gate is a lock taken at creation and released to wake the waiter: cheaper than
    an ``Event`` (whose condition variable costs several Python-level lock operations
    per wake-up, paid by every request of every batch)."""

    request: ScheduleRequest
    gate: threading.Lock = field(default_factory=threading.Lock)
    lead: bool = False
    answer: Decision | BaseException | None = None

    def __post_init__(self) -> None:
        self.gate.acquire()

    def wait(self) -> None:
        self.gate.acquire()

    def wake(self) -> None:
        self.gate.release()


class Admission:
    """The worker's queue in front of its ``Scheduler`` (see the module docstring)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self._lock = threading.Lock()
        self._queue: deque[_Ticket] = deque()
        self._leading = False
        self.batches = 0  # batches decided (for tests and diagnostics)
        self.requests = 0  # requests those batches held
        self.largest = 0  # the most requests one batch held

    def submit(self, request: ScheduleRequest) -> Decision:
        """Decide (and, unless a dry run, claim) ``request``; raises its error."""
        if request.dry_run:
            return self.scheduler.schedule(request)
        ticket = _Ticket(request)
        with self._lock:
            self._queue.append(ticket)
            if not self._leading:
                self._leading = ticket.lead = True
        if not ticket.lead:
            ticket.wait()
        if ticket.lead:
            self._lead()
        answer = ticket.answer
        if isinstance(answer, BaseException):
            raise answer
        assert answer is not None
        return answer

    def _lead(self) -> None:
        """Decide the queued requests as one batch, answer them, pass the lead on."""
        with self._lock:
            batch = [self._queue.popleft()]
            instances = batch[0].request.num_instances
            while self._queue and len(batch) < MAX_REQUESTS:
                n = self._queue[0].request.num_instances
                if instances + n > MAX_INSTANCES:
                    break
                batch.append(self._queue.popleft())
                instances += n
        try:
            answers: list[Decision | DomainError] | None = self.scheduler.schedule_many(
                [t.request for t in batch]
            )
            failure: BaseException | None = None
        except BaseException as exc:  # every waiter must wake, whatever went wrong
            answers, failure = None, exc
        finally:
            with self._lock:
                self.batches += 1
                self.requests += len(batch)
                self.largest = max(self.largest, len(batch))
                if self._queue:
                    nxt = self._queue[0]
                    nxt.lead = True
                    nxt.wake()
                else:
                    self._leading = False
        for k, t in enumerate(batch):
            t.answer = answers[k] if answers is not None else failure
            t.lead = False
            if k:  # batch[0] is the leader's own request: its thread is awake
                t.wake()
