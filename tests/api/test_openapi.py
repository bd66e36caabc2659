"""The OpenAPI document of berth's extensions matches the route table, both ways."""

from __future__ import annotations

import httpx

from berth.api.openapi import document
from berth.api.routes import ROUTES


def test_every_berth_route_is_documented_and_every_documented_path_routed() -> None:
    routed = {
        (path, route.method.lower())
        for path, routes in ROUTES.items()
        if path.startswith("/berth/")
        for route in routes
    }
    documented = {
        (path, method) for path, ops in document()["paths"].items() for method in ops
    }
    assert routed == documented


def test_request_bodies_are_the_validation_schemas() -> None:
    from berth.api.schemas.schedule import SCHEDULE

    op = document()["paths"]["/berth/v1/schedule"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] is SCHEDULE
    assert set(op["responses"]) == {"200", "400", "403", "409"}


def test_served(client: httpx.Client) -> None:
    answer = client.get("/berth/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.json()["openapi"] == "3.1.0"
    assert "/berth/v1/schedule" in answer.json()["paths"]
