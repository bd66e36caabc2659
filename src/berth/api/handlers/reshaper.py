"""Handlers for reshaper (being built; see issue 2)."""

from __future__ import annotations

from berth.api.errors import HTTPError
from berth.api.http import Request, Response
from berth.api.state import AppState


def reshape(req: Request, st: AppState) -> Response:
    raise HTTPError("reshape is not implemented yet", status=501)
