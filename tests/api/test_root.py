"""Version discovery and microversion negotiation through the whole app."""

from __future__ import annotations

import httpx


def test_root_lists_version_range(client: httpx.Client) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    version = resp.json()["versions"][0]
    assert (version["min_version"], version["max_version"]) == ("1.0", "1.39")
    assert resp.headers["openstack-api-version"] == "placement 1.39"
    assert "openstack-api-version" in resp.headers["vary"].lower()


def test_out_of_range_version_is_406(client: httpx.Client) -> None:
    resp = client.get("/", headers={"OpenStack-API-Version": "placement 1.40"})
    assert resp.status_code == 406
    assert resp.json()["errors"][0]["title"] == "Not Acceptable"


def test_malformed_version_is_400(client: httpx.Client) -> None:
    resp = client.get("/", headers={"OpenStack-API-Version": "placement 1.2.3"})
    assert resp.status_code == 400
    assert "invalid version string: 1.2.3" in resp.text


def test_missing_token_is_401(client: httpx.Client) -> None:
    resp = client.get("/resource_providers", headers={"X-Auth-Token": ""})
    # An empty header is still a token; a missing one is 401.
    del client.headers["X-Auth-Token"]
    resp = client.get("/resource_providers")
    assert resp.status_code == 401


def test_unknown_path_has_error_code(client: httpx.Client) -> None:
    resp = client.get("/barnabas")
    assert resp.status_code == 404
    error = resp.json()["errors"][0]
    assert error["code"] == "placement.undefined_code"
    assert error["request_id"].startswith("req-")
