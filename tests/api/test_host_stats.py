"""/berth/v1/hosts/{uuid}/build_results and .../stats, on every engine."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from berth.api.app import PlacementApp
from conftest import make_client


def _error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    errors = resp.json()["errors"]
    assert len(errors) == 1 and errors[0]["status"] == status
    item: dict[str, Any] = errors[0]
    return item


def _provider(client: httpx.Client, name: str, parent: str | None = None) -> str:
    body: dict[str, Any] = {"name": name}
    if parent:
        body["parent_provider_uuid"] = parent
    resp = client.post("/resource_providers", json=body)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["uuid"])


def _report(client: httpx.Client, host: str, result: str) -> httpx.Response:
    return client.post(f"/berth/v1/hosts/{host}/build_results", json={"result": result})


def test_failures_count_until_a_success(client: httpx.Client) -> None:
    host = _provider(client, "cn1")
    stats = f"/berth/v1/hosts/{host}/stats"
    assert client.get(stats).json() == {
        "host_uuid": host,
        "host_name": "cn1",
        "failed_builds": 0,
        "last_failure_at": None,
        "updated_at": None,
    }
    assert _report(client, host, "failure").json()["failed_builds"] == 1
    second = _report(client, host, "failure")
    assert second.status_code == 200
    assert second.json()["failed_builds"] == 2
    assert second.json()["last_failure_at"].endswith("Z")
    shown = client.get(stats)
    assert shown.json() == second.json()
    assert shown.headers["cache-control"] == "no-cache"
    reset = _report(client, host, "success").json()
    assert reset["failed_builds"] == 0
    assert reset["last_failure_at"] == second.json()["last_failure_at"]
    # Dashless, upper-case uuids name the same host.
    assert client.get(stats.replace(host, host.replace("-", "").upper())).json() == reset


def test_only_known_root_providers_are_hosts(client: httpx.Client) -> None:
    root = _provider(client, "cn1")
    child = _provider(client, "cn1-numa0", root)
    for resp in (_report(client, child, "failure"), client.get(f"/berth/v1/hosts/{child}/stats")):
        assert "not a host" in _error(resp, 400)["detail"]
    missing = str(uuid.uuid4())
    _error(_report(client, missing, "failure"), 404)
    _error(client.get(f"/berth/v1/hosts/{missing}/stats"), 404)
    assert "host uuid" in _error(_report(client, "nope", "failure"), 400)["detail"]
    assert client.get(f"/berth/v1/hosts/{root}/stats").json()["failed_builds"] == 0


@pytest.mark.parametrize(
    "body", [{}, {"result": "maybe"}, {"result": 1}, {"result": "failure", "extra": 1}, []]
)
def test_bad_bodies_are_400(client: httpx.Client, body: Any) -> None:
    host = _provider(client, "cn1")
    resp = client.post(f"/berth/v1/hosts/{host}/build_results", json=body)
    detail = _error(resp, 400)["detail"]
    assert "JSON does not validate" in detail
    assert client.get(f"/berth/v1/hosts/{host}/stats").json()["failed_builds"] == 0


def test_deleting_the_host_forgets_its_record(client: httpx.Client) -> None:
    host = _provider(client, "cn1")
    assert _report(client, host, "failure").status_code == 200
    assert client.delete(f"/resource_providers/{host}").status_code == 204
    _error(client.get(f"/berth/v1/hosts/{host}/stats"), 404)


def test_services_report_admins_read(app: PlacementApp, client: httpx.Client) -> None:
    """nova-compute reports build results with its service role; reading the record is
    the operator's (admin only by default)."""
    host = _provider(client, "cn1")
    with make_client(app, token="nova:service") as service:
        service.headers["X-Roles"] = "service"
        assert _report(service, host, "failure").status_code == 200
        _error(service.get(f"/berth/v1/hosts/{host}/stats"), 403)
    with make_client(app, token="user:p1") as user:
        _error(_report(user, host, "failure"), 403)
    assert client.get(f"/berth/v1/hosts/{host}/stats").json()["failed_builds"] == 1
