"""Inventories through the API: records, whole sets, generations and in-use protection."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from berth.api.app import PlacementApp
from conftest import make_client

MAX_INT = 2147483647


def _v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement {version}"}


@pytest.fixture
def rp(client: httpx.Client) -> str:
    rp_uuid = str(uuid.uuid4())
    resp = client.post("/resource_providers", json={"name": "compute", "uuid": rp_uuid})
    assert resp.status_code in (200, 201), resp.text
    return rp_uuid


def _generation(client: httpx.Client, rp: str) -> int:
    gen: int = client.get(f"/resource_providers/{rp}/inventories").json()[
        "resource_provider_generation"
    ]
    return gen


def _allocate(client: httpx.Client, rp: str, resources: dict[str, int]) -> str:
    consumer = str(uuid.uuid4())
    body: dict[str, Any] = {
        "allocations": {rp: {"resources": resources}},
        "project_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "consumer_generation": None,
    }
    resp = client.put(f"/allocations/{consumer}", json=body, headers=_v("1.28"))
    assert resp.status_code == 204, resp.text
    return consumer


def test_empty_inventory(client: httpx.Client, rp: str) -> None:
    resp = client.get(f"/resource_providers/{rp}/inventories")
    assert resp.json() == {"resource_provider_generation": 0, "inventories": {}}


def test_missing_provider_is_404(client: httpx.Client) -> None:
    missing = str(uuid.uuid4())
    resp = client.get(f"/resource_providers/{missing}/inventories")
    assert resp.status_code == 404
    assert f"No resource provider with uuid {missing} found" in resp.text


def test_post_fills_defaults_and_bumps_generation(client: httpx.Client, rp: str) -> None:
    resp = client.post(
        f"/resource_providers/{rp}/inventories", json={"resource_class": "VCPU", "total": 8}
    )
    assert resp.status_code == 201
    assert resp.headers["location"] == (
        f"http://berth.test/resource_providers/{rp}/inventories/VCPU"
    )
    assert resp.json() == {
        "resource_provider_generation": 1,
        "total": 8,
        "reserved": 0,
        "min_unit": 1,
        "max_unit": MAX_INT,
        "step_size": 1,
        "allocation_ratio": 1.0,
    }
    one = client.get(f"/resource_providers/{rp}/inventories/VCPU")
    assert one.json()["total"] == 8
    assert one.headers["cache-control"] == "no-cache"


def test_post_duplicate_and_unknown_class(client: httpx.Client, rp: str) -> None:
    url = f"/resource_providers/{rp}/inventories"
    client.post(url, json={"resource_class": "DISK_GB", "total": 10})
    dup = client.post(url, json={"resource_class": "DISK_GB", "total": 10})
    assert dup.status_code == 409
    assert "Update conflict" in dup.text
    unknown = client.post(url, json={"resource_class": "NO_CLASS_14", "total": 10})
    assert unknown.status_code == 400
    assert "No such resource class NO_CLASS_14" in unknown.text
    assert _generation(client, rp) == 1


@pytest.mark.parametrize(
    ("field", "value", "keyword"),
    [
        ("total", 0, "minimum"),
        ("total", MAX_INT + 1, "maximum"),
        ("reserved", -1, "minimum"),
        ("min_unit", 0, "minimum"),
        ("max_unit", 0, "minimum"),
        ("step_size", 0, "minimum"),
        ("allocation_ratio", 3.40282e39, "maximum"),
    ],
)
def test_post_field_bounds(
    client: httpx.Client, rp: str, field: str, value: float, keyword: str
) -> None:
    body: dict[str, Any] = {"resource_class": "DISK_GB", "total": 100, field: value}
    resp = client.post(f"/resource_providers/{rp}/inventories", json=body)
    assert resp.status_code == 400
    assert f"Failed validating '{keyword}' in schema['properties']['{field}']" in resp.text


def test_reserved_versus_total_by_microversion(client: httpx.Client, rp: str) -> None:
    url = f"/resource_providers/{rp}/inventories"
    body = {"resource_class": "DISK_GB", "total": 10, "reserved": 10}
    old = client.post(url, json=body, headers=_v("1.25"))
    assert old.status_code == 400
    assert "greater than or equal to total" in old.text
    assert client.post(url, json=body, headers=_v("1.26")).status_code == 201
    over = client.put(
        f"{url}/DISK_GB",
        json={"resource_provider_generation": 1, "total": 10, "reserved": 11},
        headers=_v("1.26"),
    )
    assert over.status_code == 400
    assert "Unable to update inventory" in over.text
    assert "greater than total" in over.text


def test_put_one_replaces_record(client: httpx.Client, rp: str) -> None:
    url = f"/resource_providers/{rp}/inventories"
    client.post(url, json={"resource_class": "DISK_GB", "total": 10, "step_size": 2})
    resp = client.put(f"{url}/DISK_GB", json={"resource_provider_generation": 1, "total": 20})
    assert resp.status_code == 200
    assert resp.json()["step_size"] == 1  # omitted fields take defaults, not old values
    assert resp.json()["resource_provider_generation"] == 2
    stale = client.put(f"{url}/DISK_GB", json={"resource_provider_generation": 1, "total": 5})
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["code"] == "placement.concurrent_update"
    absent = client.put(f"{url}/VCPU", json={"resource_provider_generation": 2, "total": 5})
    assert absent.status_code == 400
    assert "No inventory record with resource class" in absent.text
    assert _generation(client, rp) == 2


def test_put_all_replaces_the_set(client: httpx.Client, rp: str) -> None:
    url = f"/resource_providers/{rp}/inventories"
    client.post(url, json={"resource_class": "DISK_GB", "total": 10})
    body = {
        "resource_provider_generation": 1,
        "inventories": {"VCPU": {"total": 4}, "MEMORY_MB": {"total": 1024, "reserved": 512}},
    }
    resp = client.put(url, json=body, headers=_v("1.15"))
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-cache"
    data = resp.json()
    assert data["resource_provider_generation"] == 2
    assert set(data["inventories"]) == {"VCPU", "MEMORY_MB"}
    assert data["inventories"]["MEMORY_MB"]["reserved"] == 512
    assert client.get(f"{url}/DISK_GB").status_code == 404


def test_put_all_unknown_class_writes_nothing(client: httpx.Client, rp: str) -> None:
    url = f"/resource_providers/{rp}/inventories"
    body = {"resource_provider_generation": 0, "inventories": {"HOUSE": {"total": 1}}}
    resp = client.put(url, json=body)
    assert resp.status_code == 400
    assert "Unknown resource class in inventory" in resp.text
    assert client.get(url).json() == {"resource_provider_generation": 0, "inventories": {}}


def test_put_all_stale_generation(client: httpx.Client, rp: str) -> None:
    body = {"resource_provider_generation": 99, "inventories": {}}
    resp = client.put(f"/resource_providers/{rp}/inventories", json=body)
    assert resp.status_code == 409
    assert "resource provider generation conflict" in resp.text


def test_delete_one_and_all(client: httpx.Client, rp: str) -> None:
    url = f"/resource_providers/{rp}/inventories"
    client.post(url, json={"resource_class": "DISK_GB", "total": 10})
    client.post(url, json={"resource_class": "VCPU", "total": 10})
    assert client.delete(f"{url}/VCPU").status_code == 204
    again = client.delete(f"{url}/VCPU")
    assert again.status_code == 404
    assert "No inventory of class VCPU found for delete" in again.text
    assert client.delete(url, headers=_v("1.4")).status_code == 405
    assert client.delete(url, headers=_v("1.5")).status_code == 204
    assert client.delete(url, headers=_v("1.5")).status_code == 204  # empty still bumps
    assert client.get(url).json() == {"resource_provider_generation": 5, "inventories": {}}


def test_in_use_classes_cannot_be_removed(client: httpx.Client, rp: str) -> None:
    url = f"/resource_providers/{rp}/inventories"
    body = {
        "resource_provider_generation": 0,
        "inventories": {"VCPU": {"total": 8}, "DISK_GB": {"total": 100}, "MEMORY_MB": {"total": 8}},
    }
    assert client.put(url, json=body).status_code == 200
    _allocate(client, rp, {"VCPU": 2, "DISK_GB": 10})
    gen = _generation(client, rp)
    emptied = client.put(url, json={"resource_provider_generation": gen, "inventories": {}})
    assert emptied.status_code == 409
    assert emptied.json()["errors"][0]["code"] == "placement.inventory.inuse"
    assert f"Inventory for 'VCPU, DISK_GB' on resource provider '{rp}' in use" in emptied.text
    assert client.delete(url).status_code == 409
    assert client.delete(f"{url}/DISK_GB").status_code == 409
    # An unused class may go, and capacity may shrink below usage (Placement allows it).
    shrink = {
        "resource_provider_generation": gen,
        "inventories": {"VCPU": {"total": 1}, "DISK_GB": {"total": 5}},
    }
    resp = client.put(url, json=shrink)
    assert resp.status_code == 200
    assert set(resp.json()["inventories"]) == {"VCPU", "DISK_GB"}


def test_non_admin_is_forbidden(client: httpx.Client, rp: str) -> None:
    resp = client.get(f"/resource_providers/{rp}/inventories", headers={"X-Auth-Token": "user"})
    assert resp.status_code == 403


def test_concurrent_writers_with_one_generation_one_wins(
    app: PlacementApp, client: httpx.Client, rp: str
) -> None:
    """Eight PUTs computed from generation 0 race: exactly one lands, the rest get 409."""
    url = f"/resource_providers/{rp}/inventories"

    def attempt(i: int) -> int:
        with make_client(app) as own:
            body = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": i + 1}}}
            return own.put(url, json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [200] + [409] * 7
    assert _generation(client, rp) == 1
