"""POST /berth/v1/schedule: Nova's filter → weigh → claim in one atomic call, explained.

The body is what Nova's scheduler is handed (flavor with extra specs, image properties,
zone, project, server group, ``num_instances``, host hints, SR-IOV ports, ``dry_run``,
``explain_hosts``; see ``berth.api.schemas.schedule``). Answers:

* 200 with ``placements`` (host, allocations, and for NUMA/PCI guests the exact CPU
  pinning, cells, pages and devices) when every instance was placed — and claimed, unless
  ``dry_run``; every answer carries ``explanation`` (hosts removed per stage and reason,
  and the full story of each host named in ``explain_hosts``);
* 409 ``berth.schedule.no_valid_host`` in Placement's error format when some instance
  fits nowhere (nothing claimed), with the same ``explanation`` beside ``errors``; a
  ``dry_run`` that finds no host answers 200 with ``placed: false`` instead, since
  asking "would it fit?" is not an error;
* 400 naming the field for anything unknown, contradictory or impossible in the request.

Policy ``berth:schedule`` (admin only by default, like Nova's scheduler API, which only
services call).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from berth.api.errors import Conflict
from berth.api.errors import render as render_error
from berth.api.http import Request, Response, json_response
from berth.api.schedule_params import parse_schedule
from berth.api.state import AppState
from berth.model.guest import Assignment
from berth.scheduler.admission import Admission
from berth.scheduler.pipeline import Decision, Placement
from berth.scheduler.service import Scheduler

RULE = "berth:schedule"
NO_VALID_HOST = "berth.schedule.no_valid_host"

_lock = threading.Lock()


def _admission(st: AppState) -> Admission:
    with _lock:
        if st.schedule_service is None:
            st.schedule_service = Admission(Scheduler(st.store, st.scheduler))
        return st.schedule_service


def schedule(req: Request, st: AppState) -> Response:
    st.policy.authorize(req.context, RULE)
    request = parse_schedule(req.json_body())
    decision = _admission(st).submit(request)
    view = render(decision, dry_run=request.dry_run)
    if decision.ok or request.dry_run:
        return json_response(view)
    return _no_valid_host(req, decision, view)


def _no_valid_host(req: Request, decision: Decision, view: dict[str, Any]) -> Response:
    """409 in Placement's error format, with the explanation beside ``errors``."""
    exc = Conflict(
        f"No valid host was found. {decision.explanation.summary()}", code=NO_VALID_HOST
    )
    _, body = render_error(exc, request_id=req.request_id, accept=None, with_code=True)
    return json_response({**json.loads(body), **view}, status=409)


def render(decision: Decision, *, dry_run: bool) -> dict[str, Any]:
    return {
        "placed": decision.ok,
        "claimed": decision.claimed,
        "dry_run": dry_run,
        "attempts": decision.attempts,
        "placements": [_placement(p) for p in decision.placements],
        "explanation": {
            **decision.explanation.as_json(),
            **(
                {"failed_instance": decision.failed_instance}
                if decision.failed_instance is not None
                else {}
            ),
            **({"lost_races": decision.notes} if decision.notes else {}),
        },
    }


def _placement(p: Placement) -> dict[str, Any]:
    out: dict[str, Any] = {
        "instance_uuid": p.instance_uuid,
        "host": {"uuid": p.host_uuid, "name": p.host_name},
        "allocations": {rp: {"resources": res} for rp, res in p.allocations.items()},
        "score": round(p.score, 2),
    }
    if p.assignment is not None:
        out.update(_assignment(p.assignment))
    return out


def _assignment(a: Assignment) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if a.cells:
        out["numa"] = {
            "cells": [
                {
                    "guest_cell": c.guest_cell,
                    "host_cell": c.host_cell,
                    "cpu_pinning": {str(g): h for g, h in c.pinning},
                    "reserved_cpus": sorted(c.reserved_cpus),
                    "page_size_kb": c.page_size_kb,
                    "pages": c.pages,
                }
                for c in a.cells
            ],
            "emulator_cpus": sorted(a.emulator_cpus),
        }
    if a.devices:
        out["devices"] = [{"request": src, "address": addr} for src, addr in a.devices]
    return out
