"""Traits through the API: the global list and each provider's trait set."""

from __future__ import annotations

import uuid

import httpx


def _v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement {version}"}


def _provider(client: httpx.Client, name: str = "rp") -> str:
    rp = str(uuid.uuid4())
    resp = client.post("/resource_providers", json={"name": name, "uuid": rp})
    assert resp.status_code in (200, 201), resp.text
    return rp


def test_put_trait_creates_once(client: httpx.Client) -> None:
    first = client.put("/traits/CUSTOM_TRAIT_1")
    assert first.status_code == 201
    assert first.headers["location"].endswith("/traits/CUSTOM_TRAIT_1")
    assert client.put("/traits/CUSTOM_TRAIT_1").status_code == 204
    got = client.get("/traits/CUSTOM_TRAIT_1")
    assert got.status_code == 204
    assert got.headers["cache-control"] == "no-cache"
    assert client.get("/traits/CUSTOM_MISSING").status_code == 404


def test_put_trait_refuses_bad_names(client: httpx.Client) -> None:
    for name in ("TRAIT_X", "CUSTOM_ABC:1", "CUSTOM_" + "A" * 250):
        resp = client.put(f"/traits/{name}")
        assert resp.status_code == 400, name
        assert "The trait is invalid." in resp.text


def test_traits_masked_before_1_6(client: httpx.Client) -> None:
    assert client.get("/traits", headers=_v("1.5")).status_code == 404
    assert client.put("/traits/CUSTOM_A", headers=_v("1.5")).status_code == 404


def test_list_filters(client: httpx.Client) -> None:
    for name in ("CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2", "CUSTOM_OTHER", "CUSTOM_TRAITXA"):
        client.put(f"/traits/{name}")
    everything = client.get("/traits").json()["traits"]
    assert {"CUSTOM_TRAIT_1", "MISC_SHARES_VIA_AGGREGATE"} <= set(everything)
    picked = client.get("/traits", params={"name": "in:CUSTOM_TRAIT_1,CUSTOM_OTHER"})
    assert sorted(picked.json()["traits"]) == ["CUSTOM_OTHER", "CUSTOM_TRAIT_1"]
    # "_" is a literal in the prefix, not a LIKE wildcard.
    prefixed = client.get("/traits", params={"name": "startswith:CUSTOM_TRAIT_"})
    assert sorted(prefixed.json()["traits"]) == ["CUSTOM_TRAIT_1", "CUSTOM_TRAIT_2"]


def test_list_rejects_bad_queries(client: httpx.Client) -> None:
    bad_name = client.get("/traits", params={"name": "in_abc"})
    assert bad_name.status_code == 400
    assert "Badly formatted name parameter" in bad_name.text
    unknown = client.get("/traits", params={"invalid": "abc"})
    assert unknown.status_code == 400
    assert (
        "Invalid query string parameters: Additional properties are not allowed"
        in (unknown.json()["errors"][0]["detail"])
    )
    flag = client.get("/traits", params={"associated": "xyz"})
    assert flag.status_code == 400


def test_provider_traits_replace_and_bump_generation(client: httpx.Client) -> None:
    rp = _provider(client)
    client.put("/traits/CUSTOM_A")
    client.put("/traits/CUSTOM_B")
    empty = client.get(f"/resource_providers/{rp}/traits").json()
    assert empty == {"traits": [], "resource_provider_generation": 0}
    body = {"traits": ["CUSTOM_A", "HW_CPU_X86_SSE"], "resource_provider_generation": 0}
    resp = client.put(f"/resource_providers/{rp}/traits", json=body)
    assert resp.status_code == 200
    assert sorted(resp.json()["traits"]) == ["CUSTOM_A", "HW_CPU_X86_SSE"]
    assert resp.json()["resource_provider_generation"] == 1
    body = {"traits": ["CUSTOM_B"], "resource_provider_generation": 1}
    resp = client.put(f"/resource_providers/{rp}/traits", json=body)
    assert resp.json() == {"traits": ["CUSTOM_B"], "resource_provider_generation": 2}
    associated = client.get("/traits", params={"associated": "true"}).json()["traits"]
    assert associated == ["CUSTOM_B"]
    unassociated = client.get("/traits", params={"associated": "false"}).json()["traits"]
    assert "CUSTOM_A" in unassociated
    assert "CUSTOM_B" not in unassociated


def test_provider_traits_stale_generation_is_409(client: httpx.Client) -> None:
    rp = _provider(client)
    body = {"traits": [], "resource_provider_generation": 5}
    resp = client.put(f"/resource_providers/{rp}/traits", json=body)
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.concurrent_update"


def test_provider_traits_unknown_trait_writes_nothing(client: httpx.Client) -> None:
    rp = _provider(client)
    client.put("/traits/CUSTOM_A")
    body = {"traits": ["CUSTOM_A", "NOPE_1", "NOPE_2"], "resource_provider_generation": 0}
    resp = client.put(f"/resource_providers/{rp}/traits", json=body)
    assert resp.status_code == 400
    assert "No such trait(s): NOPE_1, NOPE_2" in resp.text
    after = client.get(f"/resource_providers/{rp}/traits").json()
    assert after == {"traits": [], "resource_provider_generation": 0}


def test_provider_traits_validation_and_missing_provider(client: httpx.Client) -> None:
    rp = _provider(client)
    no_gen = client.put(f"/resource_providers/{rp}/traits", json={"traits": []})
    assert no_gen.status_code == 400
    assert "'resource_provider_generation' is a required property" in no_gen.text
    body = {"traits": [], "resource_provider_generation": 0}
    missing = client.put(f"/resource_providers/{uuid.uuid4()}/traits", json=body)
    assert missing.status_code == 404


def test_delete_provider_traits_bumps_generation(client: httpx.Client) -> None:
    rp = _provider(client)
    client.put("/traits/CUSTOM_A")
    body = {"traits": ["CUSTOM_A"], "resource_provider_generation": 0}
    client.put(f"/resource_providers/{rp}/traits", json=body)
    assert client.delete(f"/resource_providers/{rp}/traits").status_code == 204
    after = client.get(f"/resource_providers/{rp}/traits").json()
    assert after == {"traits": [], "resource_provider_generation": 2}


def test_delete_trait_rules(client: httpx.Client) -> None:
    rp = _provider(client)
    client.put("/traits/CUSTOM_USED")
    body = {"traits": ["CUSTOM_USED"], "resource_provider_generation": 0}
    client.put(f"/resource_providers/{rp}/traits", json=body)
    in_use = client.delete("/traits/CUSTOM_USED")
    assert in_use.status_code == 409
    assert "The trait CUSTOM_USED is in use by a resource provider." in in_use.text
    standard = client.delete("/traits/HW_CPU_X86_SSE")
    assert standard.status_code == 400
    assert "Cannot delete standard trait" in standard.text
    assert client.delete("/traits/CUSTOM_NEVER").status_code == 404
    client.delete(f"/resource_providers/{rp}/traits")
    assert client.delete("/traits/CUSTOM_USED").status_code == 204
