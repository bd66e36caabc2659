"""Handlers for allocations (being built; see issue 2)."""

from __future__ import annotations

from berth.api.errors import HTTPError
from berth.api.http import Request, Response
from berth.api.state import AppState


def provider_allocations(req: Request, st: AppState) -> Response:
    raise HTTPError("provider_allocations is not implemented yet", status=501)


def post_allocations(req: Request, st: AppState) -> Response:
    raise HTTPError("post_allocations is not implemented yet", status=501)


def get_allocations(req: Request, st: AppState) -> Response:
    raise HTTPError("get_allocations is not implemented yet", status=501)


def put_allocations(req: Request, st: AppState) -> Response:
    raise HTTPError("put_allocations is not implemented yet", status=501)


def delete_allocations(req: Request, st: AppState) -> Response:
    raise HTTPError("delete_allocations is not implemented yet", status=501)
