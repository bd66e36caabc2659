"""GET/PUT /resource_providers/{uuid}/aggregates, both body formats, on every engine."""

from __future__ import annotations

import uuid

import httpx

from berth.api.app import PlacementApp
from conftest import make_client

AGG1 = "f918801a-5e54-4bee-9095-09a9d0c786b8"
AGG2 = "a893eb5c-e2a0-4251-ab26-f71d3b0cfc0b"


def _provider(client: httpx.Client, name: str = "rp") -> str:
    resp = client.post("/resource_providers", json={"name": name})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["uuid"])


def test_generation_checked_and_bumped(client: httpx.Client) -> None:
    rp = _provider(client)
    url = f"/resource_providers/{rp}/aggregates"
    assert client.get(url).json() == {"aggregates": [], "resource_provider_generation": 0}
    resp = client.put(url, json={"aggregates": [AGG1, AGG2], "resource_provider_generation": 0})
    assert resp.status_code == 200
    assert resp.json() == {"aggregates": [AGG1, AGG2], "resource_provider_generation": 1}
    assert resp.headers["cache-control"] == "no-cache"
    stale = client.put(url, json={"aggregates": [], "resource_provider_generation": 0})
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["code"] == "placement.concurrent_update"
    assert sorted(client.get(url).json()["aggregates"]) == sorted([AGG1, AGG2])
    assert client.get(f"/resource_providers/{rp}").json()["generation"] == 1


def test_old_format_leaves_generation(app: PlacementApp, client: httpx.Client) -> None:
    rp = _provider(client)
    url = f"/resource_providers/{rp}/aggregates"
    with make_client(app, "1.1") as old:
        resp = old.put(url, json=[AGG1])
        assert resp.status_code == 200
        assert resp.json() == {"aggregates": [AGG1]}
        assert "last-modified" not in resp.headers
        assert (
            old.put(url, json={"aggregates": [AGG1], "resource_provider_generation": 0}).status_code
            == 400
        )
    with make_client(app, "1.0") as older:
        assert older.get(url).status_code == 404
    assert client.get(f"/resource_providers/{rp}").json()["generation"] == 0
    assert client.put(url, json=[AGG1]).status_code == 400


def test_bad_bodies_and_unknown_provider(client: httpx.Client) -> None:
    missing = f"/resource_providers/{uuid.uuid4()}/aggregates"
    assert client.get(missing).status_code == 404
    assert client.put(missing, json=[]).status_code == 404
    url = f"/resource_providers/{_provider(client)}/aggregates"
    not_uuid = client.put(url, json={"aggregates": ["harry"], "resource_provider_generation": 0})
    assert not_uuid.status_code == 400
    assert "is not a 'uuid'" in not_uuid.text
    twice = client.put(url, json={"aggregates": [AGG1, AGG1], "resource_provider_generation": 0})
    assert twice.status_code == 400
    assert "non-unique" in twice.text
    assert client.put(url, json={"aggregates": [AGG1]}).status_code == 400


def test_member_of_queries(app: PlacementApp, client: httpx.Client) -> None:
    one, two, three = (_provider(client, n) for n in ("one", "two", "three"))
    for rp, aggs in ((one, [AGG1]), (two, [AGG1, AGG2])):
        resp = client.put(
            f"/resource_providers/{rp}/aggregates",
            json={"aggregates": aggs, "resource_provider_generation": 0},
        )
        assert resp.status_code == 200

    def found(query: str, version: str = "latest") -> set[str] | int:
        with make_client(app, version) as c:
            resp = c.get(f"/resource_providers?{query}")
        if resp.status_code != 200:
            return resp.status_code
        return {p["uuid"] for p in resp.json()["resource_providers"]}

    assert found(f"member_of={AGG1}") == {one, two}
    assert found(f"member_of=in:{AGG1},{AGG2}") == {one, two}
    assert found(f"member_of={AGG1}&member_of={AGG2}") == {two}
    assert found(f"member_of=!{AGG2}") == {one, three}
    assert found(f"member_of=!in:{AGG1},{AGG2}") == {three}
    assert found(f"member_of={AGG1}&member_of={AGG2}", "1.23") == 400
    assert found(f"member_of=!{AGG2}", "1.31") == 400
    assert found(f"member_of={AGG1}", "1.2") == 400
    assert found("member_of=not-a-uuid") == 400
    assert found(f"member_of={AGG1},{AGG2}") == 400


def test_deleting_provider_drops_memberships(client: httpx.Client) -> None:
    rp = _provider(client)
    client.put(
        f"/resource_providers/{rp}/aggregates",
        json={"aggregates": [AGG1], "resource_provider_generation": 0},
    )
    assert client.delete(f"/resource_providers/{rp}").status_code == 204
    other = _provider(client, "other")
    assert client.get(f"/resource_providers/{other}/aggregates").json()["aggregates"] == []
    assert client.get(f"/resource_providers?member_of={AGG1}").json()["resource_providers"] == []
