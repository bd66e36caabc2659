"""Resource classes through the API: standard ones read-only, custom ones managed."""

from __future__ import annotations

import uuid

import httpx

from berth.model.names import standard_resource_classes


def _v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement {version}"}


def test_list_has_every_standard_class(client: httpx.Client) -> None:
    resp = client.get("/resource_classes")
    assert resp.status_code == 200
    names = [rc["name"] for rc in resp.json()["resource_classes"]]
    assert names == list(standard_resource_classes())
    first = resp.json()["resource_classes"][0]
    assert first["links"] == [{"rel": "self", "href": f"/resource_classes/{first['name']}"}]
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.headers["last-modified"].endswith(" GMT")


def test_endpoint_masked_before_1_2(client: httpx.Client) -> None:
    assert client.get("/resource_classes", headers=_v("1.1")).status_code == 404


def test_put_creates_then_confirms_at_1_7(client: httpx.Client) -> None:
    first = client.put("/resource_classes/CUSTOM_COW", headers=_v("1.7"))
    assert first.status_code == 201
    assert first.headers["location"].endswith("/resource_classes/CUSTOM_COW")
    again = client.put("/resource_classes/CUSTOM_COW", headers=_v("1.7"))
    assert again.status_code == 204
    got = client.get("/resource_classes/CUSTOM_COW")
    assert got.status_code == 200
    assert got.json()["name"] == "CUSTOM_COW"


def test_put_refuses_non_custom_and_long_names(client: httpx.Client) -> None:
    for name in ("COW", "VCPU", "CUSTOM_lower"):
        resp = client.put(f"/resource_classes/{name}", headers=_v("1.7"))
        assert resp.status_code == 400, name
        assert "Failed validating 'pattern'" in resp.text
    resp = client.put("/resource_classes/CUSTOM_" + "S" * 250, headers=_v("1.7"))
    assert resp.status_code == 400
    assert "Failed validating 'maxLength'" in resp.text


def test_post_creates_and_refuses_duplicates(client: httpx.Client) -> None:
    resp = client.post("/resource_classes", json={"name": "CUSTOM_GOLD"})
    assert resp.status_code == 201
    assert "content-type" not in resp.headers
    dup = client.post("/resource_classes", json={"name": "CUSTOM_GOLD"})
    assert dup.status_code == 409
    assert dup.json()["errors"][0]["code"] == "placement.duplicate_name"
    assert "Conflicting resource class already exists" in dup.text


def test_post_validates_body(client: httpx.Client) -> None:
    bad = [{"name": "FOO"}, {"name": "CUSTOM_A", "extra": 1}, {}, {"name": "CUSTOM_Bad&"}]
    for body in bad:
        resp = client.post("/resource_classes", json=body)
        assert resp.status_code == 400, body
        assert "JSON does not validate" in resp.text


def test_rename_before_1_7(client: httpx.Client) -> None:
    client.post("/resource_classes", json={"name": "CUSTOM_OLD"})
    client.post("/resource_classes", json={"name": "CUSTOM_TAKEN"})
    v16 = _v("1.6")
    resp = client.put("/resource_classes/CUSTOM_OLD", json={"name": "CUSTOM_NEW"}, headers=v16)
    assert resp.status_code == 200
    assert resp.json()["name"] == "CUSTOM_NEW"
    assert client.get("/resource_classes/CUSTOM_OLD").status_code == 404
    clash = client.put("/resource_classes/CUSTOM_NEW", json={"name": "CUSTOM_TAKEN"}, headers=v16)
    assert clash.status_code == 409
    standard = client.put("/resource_classes/VCPU", json={"name": "CUSTOM_X"}, headers=v16)
    assert standard.status_code == 400
    assert "Cannot update standard resource class VCPU" in standard.text
    missing = client.put("/resource_classes/CUSTOM_NOPE", json={"name": "CUSTOM_Y"}, headers=v16)
    assert missing.status_code == 404


def test_delete_custom_and_refuse_standard(client: httpx.Client) -> None:
    client.put("/resource_classes/CUSTOM_GONE")
    assert client.delete("/resource_classes/CUSTOM_GONE").status_code == 204
    assert client.delete("/resource_classes/CUSTOM_GONE").status_code == 404
    resp = client.delete("/resource_classes/VCPU")
    assert resp.status_code == 400
    assert "Cannot delete standard resource class" in resp.text


def test_delete_refused_while_in_inventory(client: httpx.Client) -> None:
    client.put("/resource_classes/CUSTOM_GOLD")
    rp = str(uuid.uuid4())
    assert client.post("/resource_providers", json={"name": "rp", "uuid": rp}).status_code in (
        200,
        201,
    )
    inv = {"resource_class": "CUSTOM_GOLD", "total": 5}
    assert client.post(f"/resource_providers/{rp}/inventories", json=inv).status_code == 201
    resp = client.delete("/resource_classes/CUSTOM_GOLD")
    assert resp.status_code == 409
    assert "Class is in use in inventory" in resp.text
    client.delete(f"/resource_providers/{rp}/inventories/CUSTOM_GOLD")
    assert client.delete("/resource_classes/CUSTOM_GOLD").status_code == 204


def test_non_admin_is_forbidden(client: httpx.Client) -> None:
    resp = client.get("/resource_classes", headers={"X-Auth-Token": "user"})
    assert resp.status_code == 403
