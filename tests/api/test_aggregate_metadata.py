"""/berth/v1/aggregates/{uuid}/metadata: replace, show, forget; Nova's limits; on every
engine."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from berth.api.app import PlacementApp
from conftest import make_client

AGG = "2f6ba1b4-6a43-4f5b-9d3e-6a0b8d7c5e41"
OTHER = "9c1d3e5f-7a8b-4c2d-8e6f-1a2b3c4d5e6f"
URL = f"/berth/v1/aggregates/{AGG}/metadata"


def _error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    errors = resp.json()["errors"]
    assert len(errors) == 1 and errors[0]["status"] == status
    item: dict[str, Any] = errors[0]
    return item


def test_put_get_replace_delete(client: httpx.Client) -> None:
    _error(client.get(URL), 404)
    body = {"name": "rack-1", "metadata": {"availability_zone": "az1", "ssd": "true"}}
    put = client.put(URL, json=body)
    assert put.status_code == 200, put.text
    assert put.json() == {"uuid": AGG, **body}
    got = client.get(URL)
    assert got.json() == put.json()
    assert got.headers["cache-control"] == "no-cache"
    assert "last-modified" in got.headers
    replaced = client.put(URL, json={"name": "rack-one", "metadata": {"gpu": ""}})
    assert replaced.json() == {"uuid": AGG, "name": "rack-one", "metadata": {"gpu": ""}}
    assert client.get(URL.replace(AGG, AGG.replace("-", "").upper())).json()["name"] == "rack-one"
    assert client.delete(URL).status_code == 204
    _error(client.get(URL), 404)
    _error(client.delete(URL), 404)


def test_membership_is_not_touched(client: httpx.Client) -> None:
    rp = client.post("/resource_providers", json={"name": "cn1"}).json()["uuid"]
    aggs = f"/resource_providers/{rp}/aggregates"
    joined = client.put(aggs, json={"aggregates": [AGG], "resource_provider_generation": 0})
    assert joined.status_code == 200
    assert client.put(URL, json={"name": "a", "metadata": {"k": "v"}}).status_code == 200
    assert client.delete(URL).status_code == 204
    assert client.get(aggs).json() == {"aggregates": [AGG], "resource_provider_generation": 1}


def test_names_are_unique(client: httpx.Client) -> None:
    assert client.put(URL, json={"name": "rack", "metadata": {}}).status_code == 200
    dup = client.put(URL.replace(AGG, OTHER), json={"name": "rack", "metadata": {}})
    assert _error(dup, 409)["code"] == "placement.duplicate_name"
    _error(client.get(URL.replace(AGG, OTHER)), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metadata": {}}, "name"),
        ({"name": "a"}, "metadata"),
        ({"name": "", "metadata": {}}, "name"),
        ({"name": "x" * 256, "metadata": {}}, "name"),
        ({"name": "a ", "metadata": {}}, "name"),
        ({"name": 7, "metadata": {}}, "name"),
        ({"name": "a", "metadata": []}, "metadata"),
        ({"name": "a", "metadata": {"k" * 256: "v"}}, "metadata"),
        ({"name": "a", "metadata": {"bad key!": "v"}}, "bad key!"),
        ({"name": "a", "metadata": {" lead": "v"}}, " lead"),
        ({"name": "a", "metadata": {"": "v"}}, "metadata"),
        ({"name": "a", "metadata": {"k": "v" * 256}}, "'k'"),
        ({"name": "a", "metadata": {"k": 1}}, "'k'"),
        ({"name": "a", "metadata": {"k": None}}, "'k'"),
        ({"name": "a", "metadata": {"availability_zone": "az:1"}}, "availability_zone"),
        ({"name": "a", "metadata": {"availability_zone": ""}}, "availability_zone"),
        ({"name": "a", "metadata": {f"k{i}": "v" for i in range(257)}}, "metadata"),
        ({"name": "a", "metadata": {}, "hosts": []}, "hosts"),
        ({"name": "a\x00", "metadata": {}}, "name"),
        ({"name": "a", "metadata": {"k": "\x00"}}, "'k'"),
        ({"name": "a", "metadata": {"availability_zone": "a\x00"}}, "availability_zone"),
        ({"name": "a", "metadata": {"k\x00": "v"}}, "metadata"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(client: httpx.Client, body: Any, field: str) -> None:
    assert field in _error(client.put(URL, json=body), 400)["detail"]
    _error(client.get(URL), 404)


def test_lone_surrogates_are_400(client: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    bodies = (
        rb'{"name": "\udc00", "metadata": {}}',
        rb'{"name": "a", "metadata": {"k": "\ud800"}}',
    )
    for raw in bodies:
        _error(client.put(URL, content=raw, headers=headers), 400)
    _error(client.get(URL), 404)


def test_limits_are_inclusive(client: httpx.Client) -> None:
    metadata = {"k" * 255: "v" * 255, "a-b_c:d.e f": "", **{f"k{i}": "v" for i in range(254)}}
    resp = client.put(URL, json={"name": "n" * 255, "metadata": metadata})
    assert resp.status_code == 200, resp.text
    assert client.get(URL).json()["metadata"] == metadata


def test_malformed_requests(client: httpx.Client) -> None:
    bad = "/berth/v1/aggregates/nope/metadata"
    for resp in (client.get(bad), client.put(bad, json={"name": "a", "metadata": {}})):
        assert "aggregate uuid" in _error(resp, 400)["detail"]
    _error(client.put(URL, content=b"[", headers={"content-type": "application/json"}), 400)
    _error(client.post(URL, json={}), 405)


def test_admin_only_by_default(app: PlacementApp) -> None:
    with make_client(app, token="user:project") as user:
        user.headers["X-Roles"] = "member,reader"
        for resp in (
            user.get(URL),
            user.put(URL, json={"name": "a", "metadata": {}}),
            user.delete(URL),
        ):
            assert "berth:aggregates:metadata" in _error(resp, 403)["detail"]
