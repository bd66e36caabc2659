"""HTTP behaviour at the edge: routing errors, content negotiation, bodies, request ids.

Each check is what Placement answers (its gabbits basic-http.yaml, microversion.yaml),
including the cases an HTTP client library will not send, driven through a raw environ.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from api.rawwsgi import call
from berth.api.app import PlacementApp
from berth.api.http import MAX_BODY_BYTES

ADMIN = {"X-Auth-Token": "admin", "OpenStack-API-Version": "placement latest"}
REQ_ID = re.compile(r"^req-[0-9a-f-]{36}$")


def _error(resp: httpx.Response) -> dict[str, object]:
    body = resp.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"]
    assert isinstance(error, dict)
    return error


# -- routing -------------------------------------------------------------------------


def test_unknown_path_is_404_with_request_id_and_code(client: httpx.Client) -> None:
    resp = client.get("/barnabas")
    assert resp.status_code == 404
    error = _error(resp)
    assert error["title"] == "Not Found"
    assert error["code"] == "placement.undefined_code"
    assert error["request_id"] == resp.headers["x-openstack-request-id"]
    assert REQ_ID.match(resp.headers["openstack-request-id"])
    assert "The resource could not be found." in str(error["detail"])


def test_error_code_only_from_1_23(client: httpx.Client) -> None:
    old = client.get("/barnabas", headers={"OpenStack-API-Version": "placement 1.22"})
    assert "code" not in _error(old)
    new = client.get("/barnabas", headers={"OpenStack-API-Version": "placement 1.23"})
    assert _error(new)["code"] == "placement.undefined_code"


def test_405_lists_allowed_methods(client: httpx.Client) -> None:
    resp = client.delete("/resource_providers")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, POST"
    assert "The method DELETE is not allowed for this resource." in resp.text
    assert _error(resp)["title"] == "Method Not Allowed"
    root = client.request("OPTIONS", "/")
    assert (root.status_code, root.headers["allow"]) == (405, "GET")


def test_405_regardless_of_microversion(client: httpx.Client) -> None:
    # POST /allocations only exists from 1.13, but GET is never allowed there.
    resp = client.get("/allocations", headers={"OpenStack-API-Version": "placement 1.0"})
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"


def test_route_older_than_its_microversion(client: httpx.Client) -> None:
    resp = client.get("/traits", headers={"OpenStack-API-Version": "placement 1.5"})
    assert resp.status_code == 404
    rp = "/resource_providers/7850178f-1807-4512-b135-0b174985405b/inventories"
    early = client.delete(rp, headers={"OpenStack-API-Version": "placement 1.4"})
    assert early.status_code == 405  # as Placement: DELETE inventories is 405 before 1.5


def test_microversion_headers_on_errors(client: httpx.Client) -> None:
    resp = client.get("/barnabas", headers={"OpenStack-API-Version": "placement 1.30"})
    assert resp.headers["openstack-api-version"] == "placement 1.30"
    assert "openstack-api-version" in resp.headers["vary"]


# -- Accept --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    ["text/plain", "text/html,application/xhtml+xml,application/xml;q=0.9", "application/json;q=0"],
)
def test_json_resources_refuse_accept_without_json(client: httpx.Client, accept: str) -> None:
    resp = client.get("/resource_providers", headers={"Accept": accept})
    assert resp.status_code == 406
    assert "Only application/json is provided" in resp.text


@pytest.mark.parametrize(
    "accept",
    [
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "*/*",
        "application/*",
        "",
        "not a media type at all",  # invalid header: treated as absent, like WebOb
    ],
)
def test_json_resources_accept_wildcards(client: httpx.Client, accept: str) -> None:
    resp = client.get("/resource_providers", headers={"Accept": accept})
    assert resp.status_code == 200
    assert resp.json() == {"resource_providers": []}


def test_error_body_follows_accept(client: httpx.Client) -> None:
    for accept in ("application/json", "*/*", ""):
        resp = client.get("/barnabas", headers={"Accept": accept})
        assert resp.headers["content-type"] == "application/json"
        assert _error(resp)["status"] == 404
    html = client.get(
        "/", headers={"Accept": "text/html", "OpenStack-API-Version": "placement 0.5"}
    )
    assert html.status_code == 406
    assert html.headers["content-type"].startswith("text/html")
    assert "Unacceptable version header: 0.5" in html.text
    plain = client.get("/barnabas", headers={"Accept": "text/plain"})
    assert plain.headers["content-type"].startswith("text/plain")
    assert plain.text.startswith("404 Not Found")


def test_root_ignores_accept(client: httpx.Client) -> None:
    assert client.get("/", headers={"Accept": "text/plain"}).status_code == 200


# -- request bodies ------------------------------------------------------------------


def test_wrong_content_type_is_415(client: httpx.Client) -> None:
    resp = client.post(
        "/resource_providers", content=b"I want a provider", headers={"Content-Type": "text/plain"}
    )
    assert resp.status_code == 415
    none = client.put("/resource_providers/d3a64825-8228-4ccb-8a6c-1c6d3eb6a3e8")
    assert none.status_code == 415
    assert "The media type None is not supported, use application/json" in none.text


def test_body_without_content_type_is_400(app: PlacementApp) -> None:
    resp = call(app, "POST", "/resource_providers", headers=ADMIN, body=b"I want a provider")
    assert resp.status == 400
    assert "content-type header required" in resp.json()["errors"][0]["detail"]


@pytest.mark.parametrize("length", ["hi mom", "-1", "1.5", "\u0665"])
def test_content_length_must_be_an_integer(app: PlacementApp, length: str) -> None:
    resp = call(
        app,
        "POST",
        "/resource_providers",
        headers={**ADMIN, "Content-Type": "application/json"},
        body=b"{}",
        content_length=length,
    )
    assert resp.status == 400
    assert "content-length header must be an integer" in resp.body.decode()


def test_oversized_body_is_413(app: PlacementApp) -> None:
    declared = call(
        app,
        "POST",
        "/resource_providers",
        headers={**ADMIN, "Content-Type": "application/json"},
        content_length=str(MAX_BODY_BYTES + 1),
    )
    assert declared.status == 413
    assert declared.json()["errors"][0]["title"] == "Request Entity Too Large"
    chunked = call(
        app,
        "POST",
        "/resource_providers",
        headers={**ADMIN, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        body=b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}',
        content_length="",
    )
    assert chunked.status == 413


@pytest.mark.parametrize(
    "body",
    [b'{"name": "\xff\xfe"}', b"{", b'{"name": NaN}', b'{"a": Infinity}', b"[" * 100000],
)
def test_malformed_json_is_400(client: httpx.Client, body: bytes) -> None:
    resp = client.post(
        "/resource_providers", content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert "Malformed JSON" in _error(resp)["detail"]  # type: ignore[operator]


def test_invalid_utf8_in_path_and_query_is_400(app: PlacementApp) -> None:
    path = call(app, "GET", b"/resource_providers/\xff\xfe", headers=ADMIN)
    assert path.status == 400
    assert "not valid UTF-8" in path.json()["errors"][0]["detail"]
    for query in (b"name=%ff%fe", b"name=\xff"):
        resp = call(app, "GET", "/resource_providers", query=query, headers=ADMIN)
        assert resp.status == 400, query
        assert "not UTF-8" in resp.json()["errors"][0]["detail"]


def test_unicode_path_and_query_are_fine(app: PlacementApp) -> None:
    snowman = "\N{SNOWMAN}".encode()
    resp = call(app, "GET", "/resource_providers", query=b"name=%e2%98%83", headers=ADMIN)
    assert resp.status == 200
    raw = call(app, "GET", b"/resource_classes/CUSTOM_" + snowman, headers=ADMIN)
    assert raw.status in (400, 404)


def test_request_ids_are_unique_per_request(client: httpx.Client) -> None:
    ids = {client.get("/").headers["x-openstack-request-id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(REQ_ID.match(i) for i in ids)


def test_responses_have_content_length(app: PlacementApp) -> None:
    resp = call(app, "GET", "/", headers=ADMIN)
    assert resp.header("content-length") == str(len(resp.body))
    assert json.loads(resp.body)["versions"][0]["max_version"] == "1.39"
