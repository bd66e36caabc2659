"""Handlers for allocation candidates (being built; see issue 2)."""

from __future__ import annotations

from berth.api.errors import HTTPError
from berth.api.http import Request, Response
from berth.api.state import AppState


def list_candidates(req: Request, st: AppState) -> Response:
    raise HTTPError("list_candidates is not implemented yet", status=501)
