"""Usages through the API: per provider, per project/user, and by consumer type (1.38)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

PROJECT = str(uuid.uuid4())
USER = str(uuid.uuid4())
OTHER_USER = str(uuid.uuid4())


def _v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement {version}"}


@pytest.fixture
def rp(client: httpx.Client) -> str:
    rp_uuid = str(uuid.uuid4())
    assert client.post("/resource_providers", json={"name": "c1", "uuid": rp_uuid}).is_success
    body = {
        "resource_provider_generation": 0,
        "inventories": {
            "VCPU": {"total": 32},
            "DISK_GB": {"total": 2048},
            "IPV4_ADDRESS": {"total": 8},
        },
    }
    assert client.put(f"/resource_providers/{rp_uuid}/inventories", json=body).is_success
    return rp_uuid


def _allocate(
    client: httpx.Client,
    rp: str,
    resources: dict[str, int],
    user: str = USER,
    consumer_type: str | None = None,
) -> None:
    body: dict[str, Any] = {
        "allocations": {rp: {"resources": resources}},
        "project_id": PROJECT,
        "user_id": user,
        "consumer_generation": None,
    }
    version = "1.28"
    if consumer_type is not None:
        body["consumer_type"] = consumer_type
        version = "1.38"
    resp = client.put(f"/allocations/{uuid.uuid4()}", json=body, headers=_v(version))
    assert resp.status_code == 204, resp.text


def test_provider_usages_list_every_inventory_class(client: httpx.Client, rp: str) -> None:
    _allocate(client, rp, {"VCPU": 2, "DISK_GB": 20})
    _allocate(client, rp, {"VCPU": 1})
    resp = client.get(f"/resource_providers/{rp}/usages", headers=_v("1.15"))
    assert resp.status_code == 200
    assert resp.json()["usages"] == {"VCPU": 3, "DISK_GB": 20, "IPV4_ADDRESS": 0}
    assert resp.json()["resource_provider_generation"] == 3
    assert resp.headers["cache-control"] == "no-cache"


def test_provider_usages_missing_provider(client: httpx.Client) -> None:
    assert client.get(f"/resource_providers/{uuid.uuid4()}/usages").status_code == 404


def test_project_and_user_totals(client: httpx.Client, rp: str) -> None:
    _allocate(client, rp, {"VCPU": 2, "DISK_GB": 20})
    _allocate(client, rp, {"VCPU": 1}, user=OTHER_USER)
    v19 = _v("1.9")
    project = client.get("/usages", params={"project_id": PROJECT}, headers=v19)
    assert project.json() == {"usages": {"VCPU": 3, "DISK_GB": 20}}
    user = client.get("/usages", params={"project_id": PROJECT, "user_id": OTHER_USER}, headers=v19)
    assert user.json() == {"usages": {"VCPU": 1}}
    other = client.get("/usages", params={"project_id": "nobody"}, headers=v19)
    assert other.json() == {"usages": {}}


def test_usages_query_validation(client: httpx.Client) -> None:
    v19 = _v("1.9")
    assert client.get("/usages", headers=_v("1.8"), params={"project_id": "p"}).status_code == 404
    assert client.get("/usages", headers=v19).status_code == 400
    empty = client.get("/usages", params={"project_id": ""}, headers=v19)
    assert "Failed validating 'minLength'" in empty.text
    extra = client.get("/usages", params={"project_id": "p", "dummy": "1"}, headers=v19)
    assert extra.status_code == 400
    assert "Additional properties are not allowed" in extra.text
    typed = client.get("/usages", params={"project_id": "p", "consumer_type": "X"}, headers=v19)
    assert typed.status_code == 400


def test_usages_by_consumer_type(client: httpx.Client, rp: str) -> None:
    _allocate(client, rp, {"VCPU": 2, "DISK_GB": 20})  # untyped: "unknown"
    _allocate(client, rp, {"VCPU": 1}, consumer_type="INSTANCE")
    _allocate(client, rp, {"VCPU": 4, "DISK_GB": 5}, consumer_type="INSTANCE")
    _allocate(client, rp, {"DISK_GB": 10}, consumer_type="MIGRATION")

    def usages(**params: str) -> dict[str, Any]:
        resp = client.get("/usages", params={"project_id": PROJECT, **params})
        assert resp.status_code == 200
        result: dict[str, Any] = resp.json()["usages"]
        return result

    assert usages() == {
        "unknown": {"consumer_count": 1, "VCPU": 2, "DISK_GB": 20},
        "INSTANCE": {"consumer_count": 2, "VCPU": 5, "DISK_GB": 5},
        "MIGRATION": {"consumer_count": 1, "DISK_GB": 10},
    }
    assert usages(consumer_type="all") == {"all": {"consumer_count": 4, "VCPU": 7, "DISK_GB": 35}}
    assert usages(consumer_type="unknown") == {
        "unknown": {"consumer_count": 1, "VCPU": 2, "DISK_GB": 20}
    }
    assert usages(consumer_type="MIGRATION") == {"MIGRATION": {"consumer_count": 1, "DISK_GB": 10}}
    assert usages(consumer_type="ALL") == {}
    assert usages(consumer_type="COW") == {}
