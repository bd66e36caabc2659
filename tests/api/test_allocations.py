"""PUT/POST/GET/DELETE /allocations and GET /resource_providers/{uuid}/allocations."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from berth.api.app import PlacementApp
from berth.db import tables

PROJECT = "6f1e0c36-9b7a-4d7e-9a57-6a2d8a0c3e11"
USER = "1c4b3a2d-5e6f-4a1b-8c9d-0e1f2a3b4c5d"


def make_provider(app: PlacementApp, **inventory: dict[str, Any]) -> str:
    """A provider with the given inventories, written straight into the store."""
    rp_uuid = str(uuid.uuid4())
    with app.state.store.write() as conn:
        key = conn.execute(
            insert(tables.resource_providers).values(
                uuid=rp_uuid, name=rp_uuid, generation=0, created_at=tables.now()
            )
        ).inserted_primary_key
        assert key is not None
        for rc, fields in inventory.items():
            rc_id = conn.execute(
                select(tables.resource_classes.c.id).where(tables.resource_classes.c.name == rc)
            ).scalar_one()
            values = {
                "reserved": 0,
                "min_unit": 1,
                "max_unit": fields["total"],
                "step_size": 1,
                "allocation_ratio": 1.0,
                **fields,
            }
            conn.execute(
                insert(tables.inventories).values(
                    resource_provider_id=key[0], resource_class_id=rc_id, **values
                )
            )
    return rp_uuid


@pytest.fixture
def rp(app: PlacementApp) -> str:
    return make_provider(
        app, VCPU={"total": 8, "max_unit": 16}, DISK_GB={"total": 100, "step_size": 10}
    )


def put(client: httpx.Client, consumer: str, body: Any, version: str = "1.28") -> httpx.Response:
    return client.put(
        f"/allocations/{consumer}",
        json=body,
        headers={"OpenStack-API-Version": f"placement {version}"},
    )


def body_128(rp: str, generation: int | None = None, **resources: int) -> dict[str, Any]:
    return {
        "allocations": {rp: {"resources": resources}} if resources else {},
        "project_id": PROJECT,
        "user_id": USER,
        "consumer_generation": generation,
    }


def test_put_get_delete_round_trip(client: httpx.Client, rp: str) -> None:
    consumer = str(uuid.uuid4())
    assert put(client, consumer, body_128(rp, VCPU=2, DISK_GB=20)).status_code == 204
    got = client.get(f"/allocations/{consumer}").json()
    assert got == {
        "allocations": {rp: {"generation": 1, "resources": {"VCPU": 2, "DISK_GB": 20}}},
        "project_id": PROJECT,
        "user_id": USER,
        "consumer_generation": 1,
        "consumer_type": "unknown",
    }
    by_rp = client.get(f"/resource_providers/{rp}/allocations").json()
    assert by_rp == {
        "allocations": {consumer: {"resources": {"VCPU": 2, "DISK_GB": 20}}},
        "resource_provider_generation": 1,
    }
    assert client.delete(f"/allocations/{consumer}").status_code == 204
    again = client.delete(f"/allocations/{consumer}")
    assert again.status_code == 404
    assert f"No allocations for consumer '{consumer}'" in again.text
    assert client.get(f"/allocations/{consumer}").json() == {"allocations": {}}


def test_get_shape_follows_microversion(client: httpx.Client, rp: str) -> None:
    consumer = str(uuid.uuid4())
    put(client, consumer, body_128(rp, VCPU=1))
    for version, keys in [
        ("1.11", {"allocations"}),
        ("1.12", {"allocations", "project_id", "user_id"}),
        ("1.28", {"allocations", "project_id", "user_id", "consumer_generation"}),
        ("1.38", {"allocations", "project_id", "user_id", "consumer_generation", "consumer_type"}),
    ]:
        resp = client.get(
            f"/allocations/{consumer}", headers={"OpenStack-API-Version": f"placement {version}"}
        )
        assert set(resp.json()) == keys, version
        assert ("last-modified" in resp.headers) == (version != "1.11" and version != "1.12")


def test_list_format_before_1_12(client: httpx.Client, rp: str) -> None:
    consumer = str(uuid.uuid4())
    body = {"allocations": [{"resource_provider": {"uuid": rp}, "resources": {"VCPU": 1}}]}
    assert put(client, consumer, body, "1.7").status_code == 204
    got = client.get(
        f"/allocations/{consumer}", headers={"OpenStack-API-Version": "placement 1.12"}
    ).json()
    assert got["project_id"] == got["user_id"] == "00000000-0000-0000-0000-000000000000"
    assert put(client, consumer, body, "1.8").status_code == 400  # project/user now required


@pytest.mark.parametrize(
    ("resources", "status", "wording"),
    [
        ({"VCPU": 9}, 409, "The requested amount would exceed the capacity"),
        ({"DISK_GB": 15}, 409, "violate inventory constraints"),
        ({"MEMORY_MB": 1}, 409, "Inventory for 'MEMORY_MB'"),
        ({"CUSTOM_NOPE": 1}, 400, "No such resource class CUSTOM_NOPE"),
        ({"VCPU": 0}, 400, "JSON does not validate"),
    ],
)
def test_refusals(
    client: httpx.Client, rp: str, resources: dict[str, int], status: int, wording: str
) -> None:
    consumer = str(uuid.uuid4())
    resp = put(client, consumer, body_128(rp, **resources))
    assert resp.status_code == status
    assert wording in resp.text
    # nothing half-written: a failed first write leaves no consumer behind
    assert client.get(f"/allocations/{consumer}").json() == {"allocations": {}}


def test_unknown_provider_and_bad_consumer_uuid(client: httpx.Client, rp: str) -> None:
    ghost = str(uuid.uuid4())
    resp = put(client, str(uuid.uuid4()), body_128(ghost, VCPU=1))
    assert resp.status_code == 400
    assert f"Allocation for resource provider '{ghost}' that does not exist" in resp.text
    resp = put(client, "not-a-uuid", body_128(rp, VCPU=1))
    assert resp.status_code == 400
    assert "Malformed consumer_uuid" in resp.text
    assert client.get(f"/resource_providers/{ghost}/allocations").status_code == 404


def test_consumer_generation_conflicts(client: httpx.Client, rp: str) -> None:
    consumer = str(uuid.uuid4())
    resp = put(client, consumer, body_128(rp, 4, VCPU=1))
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.concurrent_update"
    assert put(client, consumer, body_128(rp, None, VCPU=1)).status_code == 204
    stale = put(client, consumer, body_128(rp, None, VCPU=2))
    assert stale.status_code == 409
    assert "consumer generation conflict" in stale.text
    assert put(client, consumer, body_128(rp, 1, VCPU=2)).status_code == 204
    # 1.28+: an empty dict releases everything and forgets the consumer
    assert put(client, consumer, body_128(rp, 2)).status_code == 204
    assert client.get(f"/allocations/{consumer}").json() == {"allocations": {}}
    assert put(client, consumer, body_128(rp, None, VCPU=1)).status_code == 204


def test_dashless_consumer_is_the_same_consumer(client: httpx.Client, rp: str) -> None:
    consumer = uuid.uuid4()
    assert put(client, consumer.hex, body_128(rp, VCPU=1)).status_code == 204
    assert client.get(f"/allocations/{consumer}").json()["allocations"][rp]["resources"] == {
        "VCPU": 1
    }


def test_post_many_consumers_is_all_or_nothing(
    client: httpx.Client, app: PlacementApp, rp: str
) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    put(client, a, body_128(rp, VCPU=4))
    too_much = {
        a: body_128(rp, 1, VCPU=4),
        b: body_128(rp, None, VCPU=5),
    }
    v128 = {"OpenStack-API-Version": "placement 1.28"}
    resp = client.post("/allocations", json=too_much, headers=v128)
    assert resp.status_code == 409
    assert "exceed the capacity" in resp.text
    ok = {a: body_128(rp, 1), b: body_128(rp, None, VCPU=5)}
    assert client.post("/allocations", json=ok, headers=v128).status_code == 204
    assert client.get(f"/allocations/{a}").json() == {"allocations": {}}
    assert client.get(f"/resource_providers/{rp}/allocations").json()["allocations"] == {
        b: {"resources": {"VCPU": 5}}
    }
    with app.state.store.read() as conn:
        count = conn.execute(select(func.count()).select_from(tables.consumers)).scalar()
    assert count == 1


def test_consumer_type_at_1_38(client: httpx.Client, rp: str) -> None:
    consumer = str(uuid.uuid4())
    missing = put(client, consumer, body_128(rp, VCPU=1), "1.38")
    assert missing.status_code == 400
    assert "'consumer_type' is a required property" in missing.text
    body = {**body_128(rp, VCPU=1), "consumer_type": "INSTANCE"}
    assert put(client, consumer, body, "1.38").status_code == 204
    assert client.get(f"/allocations/{consumer}").json()["consumer_type"] == "INSTANCE"
    lower = put(client, consumer, {**body, "consumer_type": "instance"}, "1.38")
    assert lower.status_code == 400


def test_mappings_accepted_from_1_34(client: httpx.Client, rp: str) -> None:
    body = {**body_128(rp, VCPU=1), "mappings": {"": [rp]}}
    assert put(client, str(uuid.uuid4()), body, "1.33").status_code == 400
    assert put(client, str(uuid.uuid4()), body, "1.34").status_code == 204
    bad = put(client, str(uuid.uuid4()), {**body, "mappings": {}}, "1.34")
    assert bad.status_code == 400
