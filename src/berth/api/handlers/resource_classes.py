"""Handlers for resource classes (being built; see issue 2)."""

from __future__ import annotations

from berth.api.errors import HTTPError
from berth.api.http import Request, Response
from berth.api.state import AppState


def list_resource_classes(req: Request, st: AppState) -> Response:
    raise HTTPError("list_resource_classes is not implemented yet", status=501)


def create_resource_class(req: Request, st: AppState) -> Response:
    raise HTTPError("create_resource_class is not implemented yet", status=501)


def get_resource_class(req: Request, st: AppState) -> Response:
    raise HTTPError("get_resource_class is not implemented yet", status=501)


def update_resource_class(req: Request, st: AppState) -> Response:
    raise HTTPError("update_resource_class is not implemented yet", status=501)


def delete_resource_class(req: Request, st: AppState) -> Response:
    raise HTTPError("delete_resource_class is not implemented yet", status=501)
