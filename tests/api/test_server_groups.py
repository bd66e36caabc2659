"""/berth/v1/server_groups: shapes, validation, ownership policy, on every engine."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from berth.api.app import PlacementApp
from berth.api.state import ApiConfig
from berth.db import providers, server_groups, tables
from berth.db.engine import Store
from berth.server import build_app
from conftest import make_client

BASE = "/berth/v1/server_groups"


@pytest.fixture(autouse=True)
def _no_groups(app: PlacementApp) -> Iterator[None]:
    """Server groups reference no provider, so the shared databases keep them: clear them."""
    _clear(app.state.store)
    yield
    _clear(app.state.store)


def _clear(store: Store) -> None:
    with store.write() as conn:
        conn.execute(delete(tables.server_group_members))
        conn.execute(delete(tables.server_groups))


def _create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    resp = client.post(BASE, json={"name": "web", "policy": "anti-affinity", **body})
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


def _error(resp: httpx.Response, status: int) -> dict[str, Any]:
    """The single error of a Placement-format error body, after checking the status."""
    assert resp.status_code == status, resp.text
    errors = resp.json()["errors"]
    assert len(errors) == 1
    assert errors[0]["status"] == status
    assert {"title", "detail", "request_id", "code"} <= set(errors[0])
    item: dict[str, Any] = errors[0]
    return item


def _provider(client: httpx.Client, name: str) -> str:
    resp = client.post("/resource_providers", json={"name": name})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["uuid"])


def test_create_show_list_delete(client: httpx.Client) -> None:
    resp = client.post(
        BASE, json={"name": "web", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}
    )
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert resp.headers["location"].endswith(f"{BASE}/{made['uuid']}")
    assert made == {
        "uuid": made["uuid"],
        "name": "web",
        "policy": "anti-affinity",
        "rules": {"max_server_per_host": 2},
        "project_id": "admin",
        "user_id": "admin",
        "generation": 0,
        "members": [],
    }
    other = _create(client, name="db", policy="affinity", project_id="p2", user_id="u2")
    assert (other["rules"], other["project_id"], other["user_id"]) == ({}, "p2", "u2")
    shown = client.get(f"{BASE}/{made['uuid']}")
    assert shown.status_code == 200
    assert shown.json() == made
    assert shown.headers["cache-control"] == "no-cache"
    listed = client.get(BASE).json()["server_groups"]
    assert [g["uuid"] for g in listed] == [made["uuid"], other["uuid"]]
    only = client.get(BASE, params={"project_id": "p2"}).json()["server_groups"]
    assert [g["uuid"] for g in only] == [other["uuid"]]
    assert client.delete(f"{BASE}/{made['uuid']}").status_code == 204
    _error(client.get(f"{BASE}/{made['uuid']}"), 404)
    _error(client.delete(f"{BASE}/{made['uuid']}"), 404)


def test_given_uuid_is_kept_and_normalized(client: httpx.Client) -> None:
    wanted = uuid.uuid4()
    made = _create(client, uuid=wanted.hex.upper())
    assert made["uuid"] == str(wanted)
    assert client.get(f"{BASE}/{wanted.hex}").json()["uuid"] == str(wanted)
    again = client.post(BASE, json={"name": "other", "policy": "affinity", "uuid": str(wanted)})
    assert "already exists" in _error(again, 409)["detail"]


def test_members_show_their_hosts(app: PlacementApp, client: httpx.Client) -> None:
    host = _provider(client, "cn1")
    group = _create(client)
    placed, waiting = str(uuid.uuid4()), str(uuid.uuid4())
    store = app.state.store
    with store.write() as conn:
        # Members are added by the scheduler's claim, through the db layer.
        root_id = providers.get(conn, host).id
        server_groups.add_members(conn, group["uuid"], [(placed, root_id), (waiting, None)], 0)
    shown = client.get(f"{BASE}/{group['uuid']}").json()
    assert shown["generation"] == 1
    assert sorted(shown["members"], key=lambda m: m["host_uuid"] or "") == [
        {"consumer_uuid": waiting, "host_uuid": None, "host_name": None},
        {"consumer_uuid": placed, "host_uuid": host, "host_name": "cn1"},
    ]
    listed = client.get(BASE).json()["server_groups"]
    assert len(listed[0]["members"]) == 2
    url = f"{BASE}/{group['uuid']}/members/{placed}"
    assert client.delete(url).status_code == 204
    assert "not a member" in _error(client.delete(url), 404)["detail"]
    _error(client.delete(f"{BASE}/{uuid.uuid4()}/members/{placed}"), 404)
    after = client.get(f"{BASE}/{group['uuid']}").json()
    assert after["generation"] == 2
    assert [m["consumer_uuid"] for m in after["members"]] == [waiting]


def _anti(rules: dict[str, Any]) -> dict[str, Any]:
    return {"name": "g", "policy": "anti-affinity", "rules": rules}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "g", "policy": "sideways"}, "policy"),
        ({"name": "g"}, "policy"),
        ({"policy": "affinity"}, "name"),
        ({"name": "", "policy": "affinity"}, "name"),
        ({"name": "x" * 256, "policy": "affinity"}, "name"),
        ({"name": " padded ", "policy": "affinity"}, "name"),
        ({"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}}, "rules"),
        ({**_anti({"max_server_per_host": 1}), "policy": "soft-anti-affinity"}, "rules"),
        (_anti({"max_server_per_host": 0}), "max_server_per_host"),
        (_anti({"max_server_per_host": "2"}), "max_server_per_host"),
        (_anti({"max_server_per_host": True}), "max_server_per_host"),
        (_anti({"max_server_per_host": 2**31}), "max_server_per_host"),
        (_anti({"other": 1}), "other"),
        ({"name": "g", "policy": "affinity", "uuid": "not-a-uuid"}, "uuid"),
        ({"name": "g", "policy": "affinity", "project_id": ""}, "project_id"),
        ({"name": "g", "policy": "affinity", "user_id": "u" * 256}, "user_id"),
        ({"name": "g", "policy": "affinity", "members": []}, "members"),
        ({"name": "a\x00b", "policy": "affinity"}, "name"),
        ({"name": "g", "policy": "affinity", "project_id": "p\x00"}, "project_id"),
        ({"name": "g", "policy": "affinity", "user_id": " u"}, "user_id"),
        (["g"], "object"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(
    client: httpx.Client, body: Any, field: str
) -> None:
    err = _error(client.post(BASE, json=body), 400)
    assert field in err["detail"]
    assert client.get(BASE).json()["server_groups"] == []


def test_unstorable_text_is_400_not_500(client: httpx.Client) -> None:
    """A lone surrogate (valid JSON escape, not encodable) or NUL (PostgreSQL refuses it)."""
    headers = {"content-type": "application/json"}
    for raw in (rb'{"name": "\ud800", "policy": "affinity"}', rb'{"name": "\u0000"}'):
        assert "name" in _error(client.post(BASE, content=raw, headers=headers), 400)["detail"]
    _error(client.get(BASE, params={"project_id": "p\x00"}), 400)


def test_rules_may_be_empty_for_any_policy(client: httpx.Client) -> None:
    assert _create(client, policy="affinity", rules={})["rules"] == {}


def test_malformed_requests(client: httpx.Client) -> None:
    assert "server group uuid" in _error(client.get(f"{BASE}/nope"), 400)["detail"]
    assert "server group uuid" in _error(client.delete(f"{BASE}/nope"), 400)["detail"]
    group = _create(client)
    bad_member = client.delete(f"{BASE}/{group['uuid']}/members/nope")
    assert "consumer uuid" in _error(bad_member, 400)["detail"]
    assert "'color'" in _error(client.get(BASE, params={"color": "red"}), 400)["detail"]
    assert "project_id" in _error(client.get(BASE, params={"project_id": ""}), 400)["detail"]
    _error(client.post(BASE, content=b"{", headers={"content-type": "application/json"}), 400)
    _error(client.post(BASE, content=b"{}", headers={"content-type": "text/plain"}), 415)
    _error(client.put(BASE, json={}), 405)


def test_duplicate_names_conflict_within_a_project(client: httpx.Client) -> None:
    _create(client)
    dup = client.post(BASE, json={"name": "web", "policy": "affinity"})
    assert _error(dup, 409)["code"] == "placement.duplicate_name"
    _create(client, project_id="elsewhere")
    assert len(client.get(BASE).json()["server_groups"]) == 2


def test_any_microversion_is_served(app: PlacementApp) -> None:
    with make_client(app, "1.0") as old:
        resp = old.post(BASE, json={"name": "g", "policy": "affinity"})
        assert resp.status_code == 201
        assert "last-modified" not in resp.headers
        assert old.get(BASE).status_code == 200


def _as(app: PlacementApp, project: str, roles: str) -> httpx.Client:
    c = make_client(app, token=f"someone:{project}")
    c.headers["X-Roles"] = roles
    return c


def test_project_members_own_their_groups_secure(db_url: str) -> None:
    secure = build_app(db_url, ApiConfig(policy_defaults="secure"))
    try:
        with (
            make_client(secure) as admin,
            _as(secure, "p1", "member,reader") as member,
            _as(secure, "p1", "reader") as reader,
            _as(secure, "p2", "member,reader") as stranger,
        ):
            mine = member.post(BASE, json={"name": "g", "policy": "affinity"})
            assert mine.status_code == 201, mine.text
            assert (mine.json()["project_id"], mine.json()["user_id"]) == ("p1", "someone")
            url = f"{BASE}/{mine.json()['uuid']}"
            theirs = member.post(BASE, json={"name": "g", "policy": "affinity", "project_id": "p2"})
            _error(theirs, 403)
            _error(reader.post(BASE, json={"name": "r", "policy": "affinity"}), 403)
            assert reader.get(url).status_code == 200
            _error(stranger.get(url), 403)
            _error(stranger.delete(url), 403)
            _error(reader.delete(url), 403)
            admin_made = admin.post(
                BASE, json={"name": "other", "policy": "affinity", "project_id": "p2"}
            )
            assert admin_made.status_code == 201
            # Without ?project_id= a project sees its own groups; an admin sees them all.
            assert [g["name"] for g in reader.get(BASE).json()["server_groups"]] == ["g"]
            assert len(admin.get(BASE).json()["server_groups"]) == 2
            _error(reader.get(BASE, params={"project_id": "p2"}), 403)
            assert stranger.get(BASE, params={"project_id": "p2"}).status_code == 200
            assert member.delete(url).status_code == 204
    finally:
        secure.state.store.dispose()


def test_legacy_owner_is_any_user_of_the_project(app: PlacementApp) -> None:
    with _as(app, "p1", "") as plain, _as(app, "p2", "") as stranger:
        made = plain.post(BASE, json={"name": "g", "policy": "soft-affinity"})
        assert made.status_code == 201, made.text
        url = f"{BASE}/{made.json()['uuid']}"
        assert plain.get(url).status_code == 200
        _error(stranger.get(url), 403)
        assert plain.delete(url).status_code == 204
