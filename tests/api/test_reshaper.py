"""POST /reshaper: inventory and allocations move together or not at all."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update

from berth.api.app import PlacementApp
from berth.db import tables

PROJECT = "6f1e0c36-9b7a-4d7e-9a57-6a2d8a0c3e11"
USER = "1c4b3a2d-5e6f-4a1b-8c9d-0e1f2a3b4c5d"
V130 = {"OpenStack-API-Version": "placement 1.30"}


def _provider(app: PlacementApp, parent: str | None = None) -> str:
    rp_uuid = str(uuid.uuid4())
    rp = tables.resource_providers
    with app.state.store.write() as conn:
        parent_id = (
            conn.execute(select(rp.c.id).where(rp.c.uuid == parent)).scalar_one()
            if parent
            else None
        )
        key = conn.execute(
            insert(rp).values(
                uuid=rp_uuid,
                name=rp_uuid,
                generation=0,
                parent_provider_id=parent_id,
                created_at=tables.now(),
            )
        ).inserted_primary_key
        assert key is not None
        root = parent_id if parent_id is not None else key[0]
        conn.execute(update(rp).where(rp.c.id == key[0]).values(root_provider_id=root))
    return rp_uuid


def _generation(client: httpx.Client, rp: str) -> int:
    gen: int = client.get(f"/resource_providers/{rp}/allocations").json()[
        "resource_provider_generation"
    ]
    return gen


@pytest.fixture
def tree(client: httpx.Client, app: PlacementApp) -> tuple[str, str, str]:
    """A root with VCPU+DISK_GB inventory and one consumer of both; an empty child."""
    root = _provider(app)
    child = _provider(app, parent=root)
    reshape = {
        "inventories": {
            root: {
                "resource_provider_generation": 0,
                "inventories": {"VCPU": {"total": 8}, "DISK_GB": {"total": 100}},
            }
        },
        "allocations": {},
    }
    assert client.post("/reshaper", json=reshape, headers=V130).status_code == 204
    consumer = str(uuid.uuid4())
    body = {
        "allocations": {root: {"resources": {"VCPU": 2, "DISK_GB": 10}}},
        "project_id": PROJECT,
        "user_id": USER,
        "consumer_generation": None,
    }
    assert client.put(f"/allocations/{consumer}", json=body, headers=V130).status_code == 204
    return root, child, consumer


def _move_vcpu(root: str, child: str, consumer: str, root_gen: int) -> dict[str, Any]:
    return {
        "inventories": {
            root: {
                "resource_provider_generation": root_gen,
                "inventories": {"DISK_GB": {"total": 100}},
            },
            child: {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}},
        },
        "allocations": {
            consumer: {
                "allocations": {
                    root: {"resources": {"DISK_GB": 10}},
                    child: {"resources": {"VCPU": 2}},
                },
                "project_id": PROJECT,
                "user_id": USER,
                "consumer_generation": 1,
            }
        },
    }


def test_reshape_moves_inventory_and_allocations(
    client: httpx.Client, tree: tuple[str, str, str]
) -> None:
    root, child, consumer = tree
    root_gen = _generation(client, root)
    resp = client.post("/reshaper", json=_move_vcpu(root, child, consumer, root_gen), headers=V130)
    assert resp.status_code == 204, resp.text
    got = client.get(f"/allocations/{consumer}").json()
    assert got["allocations"][root]["resources"] == {"DISK_GB": 10}
    assert got["allocations"][child]["resources"] == {"VCPU": 2}
    assert got["consumer_generation"] == 2
    # union, allocations, final inventory: three generation moves, as Placement
    assert _generation(client, root) == root_gen + 3
    assert _generation(client, child) == 3


def test_stale_generation_changes_nothing(client: httpx.Client, tree: tuple[str, str, str]) -> None:
    root, child, consumer = tree
    root_gen = _generation(client, root)
    resp = client.post(
        "/reshaper", json=_move_vcpu(root, child, consumer, root_gen - 1), headers=V130
    )
    assert resp.status_code == 409
    assert f"actual: {root_gen}, given: {root_gen - 1}" in resp.text
    assert client.get(f"/allocations/{consumer}").json()["allocations"][root]["resources"] == {
        "VCPU": 2,
        "DISK_GB": 10,
    }


def test_dropping_inventory_still_allocated_is_refused(
    client: httpx.Client, tree: tuple[str, str, str]
) -> None:
    root, child, consumer = tree
    body = _move_vcpu(root, child, consumer, _generation(client, root))
    body["allocations"] = {}
    resp = client.post("/reshaper", json=body, headers=V130)
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.inventory.inuse"
    assert _generation(client, child) == 0  # rolled back


def test_over_capacity_after_move_is_refused(
    client: httpx.Client, tree: tuple[str, str, str]
) -> None:
    root, child, consumer = tree
    body = _move_vcpu(root, child, consumer, _generation(client, root))
    body["inventories"][child]["inventories"]["VCPU"]["total"] = 1
    resp = client.post("/reshaper", json=body, headers=V130)
    assert resp.status_code == 409
    assert "Unable to allocate inventory" in resp.text


def test_unknown_provider_and_class(client: httpx.Client, tree: tuple[str, str, str]) -> None:
    root, child, consumer = tree
    body = _move_vcpu(root, child, consumer, _generation(client, root))
    ghost = str(uuid.uuid4())
    body["inventories"][ghost] = body["inventories"].pop(child)
    resp = client.post("/reshaper", json=body, headers=V130)
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "placement.resource_provider.not_found"
    body = _move_vcpu(root, child, consumer, _generation(client, root))
    body["inventories"][child]["inventories"] = {"NOT_A_CLASS": {"total": 1}}
    resp = client.post("/reshaper", json=body, headers=V130)
    assert resp.status_code == 400
    assert "No such resource class NOT_A_CLASS" in resp.text


def test_version_gates(client: httpx.Client, tree: tuple[str, str, str]) -> None:
    root, child, consumer = tree
    body = _move_vcpu(root, child, consumer, _generation(client, root))
    old = client.post("/reshaper", json=body, headers={"OpenStack-API-Version": "placement 1.29"})
    assert old.status_code == 404
    new = client.post("/reshaper", json=body, headers={"OpenStack-API-Version": "placement 1.38"})
    assert new.status_code == 400
    assert "'consumer_type' is a required" in new.text
