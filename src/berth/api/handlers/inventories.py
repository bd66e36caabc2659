"""Handlers for inventories (being built; see issue 2)."""

from __future__ import annotations

from berth.api.errors import HTTPError
from berth.api.http import Request, Response
from berth.api.state import AppState


def list_inventories(req: Request, st: AppState) -> Response:
    raise HTTPError("list_inventories is not implemented yet", status=501)


def create_inventory(req: Request, st: AppState) -> Response:
    raise HTTPError("create_inventory is not implemented yet", status=501)


def set_inventories(req: Request, st: AppState) -> Response:
    raise HTTPError("set_inventories is not implemented yet", status=501)


def delete_inventories(req: Request, st: AppState) -> Response:
    raise HTTPError("delete_inventories is not implemented yet", status=501)


def get_inventory(req: Request, st: AppState) -> Response:
    raise HTTPError("get_inventory is not implemented yet", status=501)


def update_inventory(req: Request, st: AppState) -> Response:
    raise HTTPError("update_inventory is not implemented yet", status=501)


def delete_inventory(req: Request, st: AppState) -> Response:
    raise HTTPError("delete_inventory is not implemented yet", status=501)
