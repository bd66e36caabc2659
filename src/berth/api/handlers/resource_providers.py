"""Handlers for resource providers (being built; see issue 2)."""

from __future__ import annotations

from berth.api.errors import HTTPError
from berth.api.http import Request, Response
from berth.api.state import AppState


def list_providers(req: Request, st: AppState) -> Response:
    raise HTTPError("list_providers is not implemented yet", status=501)


def create_provider(req: Request, st: AppState) -> Response:
    raise HTTPError("create_provider is not implemented yet", status=501)


def get_provider(req: Request, st: AppState) -> Response:
    raise HTTPError("get_provider is not implemented yet", status=501)


def update_provider(req: Request, st: AppState) -> Response:
    raise HTTPError("update_provider is not implemented yet", status=501)


def delete_provider(req: Request, st: AppState) -> Response:
    raise HTTPError("delete_provider is not implemented yet", status=501)
