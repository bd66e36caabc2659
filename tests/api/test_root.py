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


def test_latest_and_default_versions(client: httpx.Client) -> None:
    latest = client.get("/", headers={"OpenStack-API-Version": "placement latest"})
    assert latest.headers["openstack-api-version"] == "placement 1.39"
    del client.headers["OpenStack-API-Version"]
    default = client.get("/")
    assert default.headers["openstack-api-version"] == "placement 1.0"


def test_version_header_naming_several_services(client: httpx.Client) -> None:
    resp = client.get("/", headers={"OpenStack-API-Version": "compute 2.1, placement 1.30"})
    assert resp.headers["openstack-api-version"] == "placement 1.30"
    other = client.get("/", headers={"OpenStack-API-Version": "compute 2.1"})
    assert other.headers["openstack-api-version"] == "placement 1.0"


def test_version_with_leading_zero_is_read_as_number(client: httpx.Client) -> None:
    resp = client.get("/", headers={"OpenStack-API-Version": "placement 1.05"})
    assert resp.headers["openstack-api-version"] == "placement 1.5"


def test_406_names_the_supported_range(client: httpx.Client) -> None:
    resp = client.get("/resource_providers", headers={"OpenStack-API-Version": "placement 0.9"})
    assert resp.status_code == 406
    error = resp.json()["errors"][0]
    assert "Unacceptable version header: 0.9" in error["detail"]
    assert (error["min_version"], error["max_version"]) == ("1.0", "1.39")
    assert "code" not in error  # no version was negotiated


def test_root_cache_headers_from_1_15(client: httpx.Client) -> None:
    new = client.get("/", headers={"OpenStack-API-Version": "placement 1.15"})
    assert new.headers["cache-control"] == "no-cache"
    assert new.headers["last-modified"].endswith(" GMT")
    old = client.get("/", headers={"OpenStack-API-Version": "placement 1.14"})
    assert "cache-control" not in old.headers
    assert "last-modified" not in old.headers


def test_root_needs_no_token_but_the_rest_does(client: httpx.Client) -> None:
    del client.headers["X-Auth-Token"]
    assert client.get("/").status_code == 200
    assert client.get("/barnabas").status_code == 401
    assert client.get("/resource_providers", headers={"X-Auth-Token": "admin:admin"}).is_success


def test_auth_comes_before_microversion(client: httpx.Client) -> None:
    del client.headers["X-Auth-Token"]
    resp = client.get("/resource_providers", headers={"OpenStack-API-Version": "placement 9.9"})
    assert resp.status_code == 401


def test_legacy_version_header_is_honoured_when_standard_one_is_absent(
    client: httpx.Client,
) -> None:
    del client.headers["OpenStack-API-Version"]
    resp = client.get("/", headers={"X-OpenStack-Placement-API-Version": "1.14"})
    assert resp.headers["openstack-api-version"] == "placement 1.14"
    both = client.get(
        "/",
        headers={
            "X-OpenStack-Placement-API-Version": "1.14",
            "OpenStack-API-Version": "placement 1.20",
        },
    )
    assert both.headers["openstack-api-version"] == "placement 1.20"
