"""Handlers for usages (being built; see issue 2)."""

from __future__ import annotations

from berth.api.errors import HTTPError
from berth.api.http import Request, Response
from berth.api.state import AppState


def provider_usages(req: Request, st: AppState) -> Response:
    raise HTTPError("provider_usages is not implemented yet", status=501)


def usages(req: Request, st: AppState) -> Response:
    raise HTTPError("usages is not implemented yet", status=501)
