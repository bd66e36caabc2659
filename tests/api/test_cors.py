"""CORS as oslo.middleware's filter does it in front of Placement (cors.yaml, non-cors.yaml)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from berth.api.state import ApiConfig
from berth.server import build_app
from conftest import make_client

ORIGIN = "http://valid.example.com"


@pytest.fixture
def cors_client(db_url: str) -> Iterator[httpx.Client]:
    config = ApiConfig(
        cors_allowed_origins=(ORIGIN,), cors_allow_headers=("openstack-api-version",)
    )
    application = build_app(db_url, config)
    with make_client(application, token="user") as c:
        yield c
    application.state.store.dispose()


def test_valid_preflight(cors_client: httpx.Client) -> None:
    resp = cors_client.request(
        "OPTIONS",
        "/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "openstack-api-version",
        },
    )
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    assert resp.headers["access-control-allow-headers"] == "openstack-api-version"
    assert resp.headers["access-control-allow-methods"] == "GET"
    assert resp.headers["vary"] == "Origin"
    assert resp.content == b""


def test_preflight_without_token_still_answers(cors_client: httpx.Client) -> None:
    del cors_client.headers["X-Auth-Token"]
    resp = cors_client.request(
        "OPTIONS",
        "/resource_providers",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://invalid.example.com", "Access-Control-Request-Method": "GET"},
        {"Origin": ORIGIN, "Access-Control-Request-Method": "BREW"},
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-secret",
        },
        {"Origin": ORIGIN},
    ],
)
def test_refused_preflight_has_no_cors_headers(
    cors_client: httpx.Client, headers: dict[str, str]
) -> None:
    resp = cors_client.request("OPTIONS", "/", headers=headers)
    assert resp.status_code == 200
    assert "access-control-allow-origin" not in resp.headers


def test_simple_request_from_allowed_origin(cors_client: httpx.Client) -> None:
    resp = cors_client.get("/", headers={"Origin": ORIGIN})
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    assert resp.headers["vary"] == "openstack-api-version,Origin"
    other = cors_client.get("/", headers={"Origin": "http://invalid.example.com"})
    assert "access-control-allow-origin" not in other.headers


def test_errors_carry_cors_headers(cors_client: httpx.Client) -> None:
    resp = cors_client.get("/barnabas", headers={"Origin": ORIGIN})
    assert resp.status_code == 404
    assert resp.headers["access-control-allow-origin"] == ORIGIN


def test_without_cors_options_is_405(client: httpx.Client) -> None:
    resp = client.request(
        "OPTIONS", "/", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert resp.status_code == 405
    get = client.get("/", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in get.headers
