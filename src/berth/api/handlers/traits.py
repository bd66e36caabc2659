"""Handlers for traits (being built; see issue 2)."""

from __future__ import annotations

from berth.api.errors import HTTPError
from berth.api.http import Request, Response
from berth.api.state import AppState


def list_provider_traits(req: Request, st: AppState) -> Response:
    raise HTTPError("list_provider_traits is not implemented yet", status=501)


def set_provider_traits(req: Request, st: AppState) -> Response:
    raise HTTPError("set_provider_traits is not implemented yet", status=501)


def delete_provider_traits(req: Request, st: AppState) -> Response:
    raise HTTPError("delete_provider_traits is not implemented yet", status=501)


def list_traits(req: Request, st: AppState) -> Response:
    raise HTTPError("list_traits is not implemented yet", status=501)


def get_trait(req: Request, st: AppState) -> Response:
    raise HTTPError("get_trait is not implemented yet", status=501)


def put_trait(req: Request, st: AppState) -> Response:
    raise HTTPError("put_trait is not implemented yet", status=501)


def delete_trait(req: Request, st: AppState) -> Response:
    raise HTTPError("delete_trait is not implemented yet", status=501)
