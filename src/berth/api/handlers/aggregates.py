"""Handlers for aggregates (being built; see issue 2)."""

from __future__ import annotations

from berth.api.errors import HTTPError
from berth.api.http import Request, Response
from berth.api.state import AppState


def get_aggregates(req: Request, st: AppState) -> Response:
    raise HTTPError("get_aggregates is not implemented yet", status=501)


def set_aggregates(req: Request, st: AppState) -> Response:
    raise HTTPError("set_aggregates is not implemented yet", status=501)
