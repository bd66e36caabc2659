"""/berth/v1/hosts/{uuid}/topology through the whole app, on every database engine.

The Placement side is checked the way a Placement client sees it (inventories, traits,
the tree, allocation candidates), including from a second app on the same database, which
must learn about the change through the change log.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from berth.api.app import PlacementApp
from berth.api.state import ApiConfig
from berth.model.topology_codec import topology_to_json
from berth.model.topology_placement import child_uuid
from berth.server import build_app
from conftest import make_client
from model.test_topology_codec import sample_topology

PF1, PF2 = "0000:81:00.0", "0000:82:00.0"
GPUS = "CUSTOM_PCI_10DE_1DB4"


def _v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement {version}"}


def _url(host: str) -> str:
    return f"/berth/v1/hosts/{host}/topology"


@pytest.fixture
def host(client: httpx.Client) -> str:
    rp = str(uuid.uuid4())
    resp = client.post("/resource_providers", json={"name": "cn1", "uuid": rp})
    assert resp.status_code == 200, resp.text
    return rp


def body(**extra: Any) -> dict[str, Any]:
    return {**topology_to_json(sample_topology()), **extra}


def _without_pf2(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["devices"] = [
        d for d in doc["devices"] if PF2 not in (d["address"], d.get("parent_address"))
    ]
    return doc


def _tree(client: httpx.Client, host: str) -> dict[str, dict[str, Any]]:
    resp = client.get(f"/resource_providers?in_tree={host}")
    assert resp.status_code == 200
    return {p["name"]: p for p in resp.json()["resource_providers"]}


def _inventories(client: httpx.Client, rp: str) -> dict[str, dict[str, Any]]:
    got: dict[str, dict[str, Any]] = client.get(f"/resource_providers/{rp}/inventories").json()[
        "inventories"
    ]
    return got


def _traits(client: httpx.Client, rp: str) -> set[str]:
    return set(client.get(f"/resource_providers/{rp}/traits").json()["traits"])


def _allocate(client: httpx.Client, allocs: dict[str, dict[str, int]]) -> str:
    consumer = str(uuid.uuid4())
    resp = client.put(
        f"/allocations/{consumer}",
        json={
            "allocations": {rp: {"resources": res} for rp, res in allocs.items()},
            "project_id": str(uuid.uuid4()),
            "user_id": str(uuid.uuid4()),
            "consumer_generation": None,
        },
        headers=_v("1.28"),
    )
    assert resp.status_code == 204, resp.text
    return consumer


def test_put_then_get(client: httpx.Client, host: str) -> None:
    resp = client.put(_url(host), json=body(cpu_allocation_ratio=2, reserved_host_memory_mb=512))
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["generation"] == 1
    assert got["resource_provider_generation"] == 1
    assert (got["cpu_allocation_ratio"], got["ram_allocation_ratio"]) == (2.0, 1.0)
    assert (got["reserved_host_cpus"], got["reserved_host_memory_mb"]) == (0, 512)
    assert {"cells": got["cells"], "devices": got["devices"]} == body()
    shown = client.get(_url(host))
    assert shown.status_code == 200
    assert shown.json() == got
    assert "last-modified" in shown.headers


def test_ids_are_lower_cased_and_optional_keys_filled(client: httpx.Client, host: str) -> None:
    doc = {
        "cells": [{"id": 0, "memory_mb": 1024, "shared_cpus": [1, 0]}],
        "devices": [
            {
                "address": "0000:AF:00.0",
                "vendor_id": "15B3",
                "product_id": "1017",
                "device_type": "type-PCI",
            }
        ],
    }
    got = client.put(_url(host), json=doc).json()
    assert got["cells"] == [
        {
            "id": 0,
            "socket": None,
            "shared_cpus": [0, 1],
            "dedicated_cpus": [],
            "siblings": [],
            "memory_mb": 1024,
            "pages": [],
        }
    ]
    assert got["devices"][0]["address"] == "0000:af:00.0"
    assert "CUSTOM_PCI_15B3_1017" in _inventories(client, child_uuid(host, "pci:15b3:1017"))


def test_placement_view(client: httpx.Client, host: str) -> None:
    assert client.put(_url(host), json=body()).status_code == 200
    assert _inventories(client, host) == {
        "VCPU": {
            "total": 8,
            "reserved": 0,
            "min_unit": 1,
            "max_unit": 8,
            "step_size": 1,
            "allocation_ratio": 4.0,
        },
        "PCPU": {
            "total": 8,
            "reserved": 0,
            "min_unit": 1,
            "max_unit": 8,
            "step_size": 1,
            "allocation_ratio": 1.0,
        },
        "MEMORY_MB": {
            "total": 49152,
            "reserved": 0,
            "min_unit": 1,
            "max_unit": 49152,
            "step_size": 1,
            "allocation_ratio": 1.0,
        },
    }
    assert _traits(client, host) == {"HW_CPU_HYPERTHREADING", "COMPUTE_SOCKET_PCI_NUMA_AFFINITY"}
    tree = _tree(client, host)
    assert set(tree) == {"cn1", f"cn1_{PF1}", f"cn1_{PF2}", "cn1_PCI_10DE_1DB4"}
    pf1 = tree[f"cn1_{PF1}"]
    assert pf1["parent_provider_uuid"] == host and pf1["root_provider_uuid"] == host
    assert _inventories(client, pf1["uuid"])["SRIOV_NET_VF"]["total"] == 4
    assert _traits(client, pf1["uuid"]) == {"HW_NIC_SRIOV", "CUSTOM_PHYSNET_PHYSNET1"}
    assert _traits(client, tree[f"cn1_{PF2}"]["uuid"]) == {
        "HW_NIC_SRIOV",
        "CUSTOM_PHYSNET_PHYS_NET_2",
    }
    assert _inventories(client, tree["cn1_PCI_10DE_1DB4"]["uuid"])[GPUS]["total"] == 2
    assert client.get(f"/resource_classes/{GPUS}").status_code == 200


def test_extension_needs_no_particular_microversion(app: PlacementApp, host: str) -> None:
    for version in ("1.0", "1.14", "latest"):
        with make_client(app, version) as c:
            assert c.put(_url(host), json=body()).status_code == 200
            assert c.get(_url(host)).status_code == 200
    with make_client(app) as c:
        resp = c.get(_url(host), headers={"OpenStack-API-Version": ""})
        assert resp.status_code == 200


def test_re_put_reconciles(client: httpx.Client, host: str) -> None:
    client.put(_url(host), json=body())
    resp = client.put(_url(host), json=_without_pf2(body()))
    assert resp.json()["generation"] == 2
    assert set(_tree(client, host)) == {"cn1", f"cn1_{PF1}", "cn1_PCI_10DE_1DB4"}
    again = client.put(_url(host), json=_without_pf2(body()))
    assert again.json()["generation"] == 2  # an identical report changes nothing
    assert again.json()["resource_provider_generation"] == resp.json()[
        "resource_provider_generation"
    ]


def test_removing_what_is_allocated_is_refused(client: httpx.Client, host: str) -> None:
    client.put(_url(host), json=body())
    _allocate(client, {child_uuid(host, f"pf:{PF2}"): {"SRIOV_NET_VF": 1}})
    before = (client.get(_url(host)).json(), _tree(client, host))
    resp = client.put(_url(host), json=_without_pf2(body()))
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.inventory.inuse"
    assert (client.get(_url(host)).json(), _tree(client, host)) == before
    deleted = client.delete(_url(host))
    assert deleted.status_code == 409
    assert (client.get(_url(host)).json(), _tree(client, host)) == before


def test_compare_and_swap(client: httpx.Client, host: str) -> None:
    assert client.put(_url(host), json=body(generation=0)).status_code == 200
    stale = client.put(_url(host), json=_without_pf2(body(generation=0)))
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["code"] == "placement.concurrent_update"
    assert client.get(_url(host)).json()["generation"] == 1
    fresh = client.put(_url(host), json=_without_pf2(body(generation=1)))
    assert fresh.status_code == 200 and fresh.json()["generation"] == 2


def test_delete(client: httpx.Client, host: str) -> None:
    client.put(_url(host), json=body())
    assert client.delete(_url(host)).status_code == 204
    assert client.get(_url(host)).status_code == 404
    assert set(_tree(client, host)) == {"cn1"}
    assert set(_inventories(client, host)) == {"VCPU", "PCPU", "MEMORY_MB"}
    assert client.delete(_url(host)).status_code == 404


def test_not_found(client: httpx.Client, host: str) -> None:
    missing = str(uuid.uuid4())
    for resp in (
        client.get(_url(missing)),
        client.put(_url(missing), json=body()),
        client.delete(_url(missing)),
    ):
        assert resp.status_code == 404
        assert f"No resource provider with uuid {missing}" in resp.text
    none_yet = client.get(_url(host))
    assert none_yet.status_code == 404
    assert f"No topology for resource provider {host}" in none_yet.text


def test_a_child_provider_is_not_a_host(client: httpx.Client, host: str) -> None:
    child = str(uuid.uuid4())
    client.post(
        "/resource_providers", json={"name": "c", "uuid": child, "parent_provider_uuid": host}
    )
    resp = client.put(_url(child), json=body())
    assert resp.status_code == 400
    assert "not a root provider" in resp.text


@pytest.mark.parametrize("rule", ["show", "update", "delete"])
def test_non_admin_is_forbidden(app: PlacementApp, host: str, rule: str) -> None:
    with make_client(app, token="someone:proj") as c:
        call: Callable[[], httpx.Response] = {
            "show": lambda: c.get(_url(host)),
            "update": lambda: c.put(_url(host), json=body()),
            "delete": lambda: c.delete(_url(host)),
        }[rule]
        resp = call()
    assert resp.status_code == 403
    assert f"berth:topology:{rule}" in resp.text
    with make_client(app, token="svc:proj") as c:
        resp = c.get(_url(host), headers={"X-Roles": "service"})
    assert resp.status_code == 403


@pytest.fixture
def secure_app(db_url: str) -> Iterator[PlacementApp]:
    application = build_app(db_url, ApiConfig(policy_defaults="secure"))
    yield application
    application.state.store.dispose()


def test_secure_defaults_admit_admins_only(secure_app: PlacementApp) -> None:
    with make_client(secure_app) as admin:
        rp = str(uuid.uuid4())
        admin.post("/resource_providers", json={"name": "cn", "uuid": rp})
        assert admin.put(_url(rp), json=body()).status_code == 200
    with make_client(secure_app, token="m:p") as member:
        resp = member.get(_url(rp), headers={"X-Roles": "member,reader"})
        assert resp.status_code == 403


# --------------------------------------------------------------------------- bad input


def _cell(**changes: Any) -> dict[str, Any]:
    cell: dict[str, Any] = copy.deepcopy(body()["cells"][0])
    cell.update(changes)
    return cell


def _dev(i: int, **changes: Any) -> list[dict[str, Any]]:
    devices: list[dict[str, Any]] = copy.deepcopy(body()["devices"])
    devices[i].update(changes)
    return devices


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("no cells", {"devices": []}, "'cells' is a required property"),
    ("empty cells", body(cells=[]), "cells"),
    ("unknown key", body(colour="blue"), "colour"),
    ("negative cpu", body(cells=[_cell(shared_cpus=[-1])]), "shared_cpus"),
    ("cpu not int", body(cells=[_cell(dedicated_cpus=["2"])]), "dedicated_cpus"),
    ("bool cpu", body(cells=[_cell(shared_cpus=[True])]), "shared_cpus"),
    ("repeated cpu", body(cells=[_cell(shared_cpus=[0, 0])]), "shared_cpus"),
    ("shared and dedicated", body(cells=[_cell(shared_cpus=[0, 2])]), "cells[0].dedicated_cpus"),
    (
        "cpu in two cells",
        body(cells=[_cell(), _cell(id=1, shared_cpus=[5, 100], dedicated_cpus=[101])]),
        "cells[1].shared_cpus: CPU 5 is also in cells[0]",
    ),
    ("repeated cell id", body(cells=[_cell(), _cell(shared_cpus=[], dedicated_cpus=[])]), "id"),
    ("sibling outside cell", body(cells=[_cell(siblings=[[0, 99]])]), "cells[0].siblings[0]"),
    ("overlapping siblings", body(cells=[_cell(siblings=[[0, 4], [4]])]), "siblings[1]"),
    ("empty sibling group", body(cells=[_cell(siblings=[[]])]), "siblings"),
    ("memory negative", body(cells=[_cell(memory_mb=-1)]), "memory_mb"),
    ("memory huge", body(cells=[_cell(memory_mb=2**31)]), "memory_mb"),
    (
        "page size not power of two",
        body(cells=[_cell(pages=[{"size_kb": 3000, "total": 1}])]),
        "cells[0].pages[0].size_kb",
    ),
    ("page size zero", body(cells=[_cell(pages=[{"size_kb": 0, "total": 1}])]), "size_kb"),
    (
        "repeated page size",
        body(cells=[_cell(pages=[{"size_kb": 2048, "total": 1}, {"size_kb": 2048, "total": 1}])]),
        "pages[1].size_kb",
    ),
    (
        "reserved pages",
        body(cells=[_cell(pages=[{"size_kb": 2048, "total": 1, "reserved": 2}])]),
        "pages[0].reserved",
    ),
    (
        "huge pages exceed memory",
        body(cells=[_cell(memory_mb=1024, pages=[{"size_kb": 1048576, "total": 2}])]),
        "cells[0].pages: huge pages hold 2048 MiB",
    ),
    ("bad address", body(devices=_dev(0, address="0000:81:00")), "address"),
    ("address newline", body(devices=_dev(0, address="0000:81:00.0\n")), "address"),
    ("device number", body(devices=_dev(0, address="0000:81:20.0")), "address"),
    ("bad vendor", body(devices=_dev(0, vendor_id="80866")), "vendor_id"),
    ("bad type", body(devices=_dev(0, device_type="type-XX")), "device_type"),
    ("repeated address", body(devices=_dev(1, address="0000:81:00.0")), "devices[1].address"),
    ("vf without parent", body(devices=_dev(1, parent_address=None)), "devices[1].parent_address"),
    (
        "vf parent not a pf",
        body(devices=_dev(1, parent_address="0000:3b:00.0")),
        "devices[1].parent_address: 0000:3b:00.0 is not a type-PF",
    ),
    ("pf with parent", body(devices=_dev(0, parent_address=PF2)), "devices[0].parent_address"),
    ("no such cell", body(devices=_dev(0, numa_cell=7)), "devices[0].numa_cell: no cell 7"),
    ("bad physnet", body(devices=_dev(0, physnet="phys net")), "physnet"),
    ("physnet colon", body(devices=_dev(0, physnet="a:b")), "physnet"),
    ("vf physnet differs", body(devices=_dev(1, physnet="other")), "devices[1].physnet"),
    ("ratio zero", body(cpu_allocation_ratio=0), "cpu_allocation_ratio"),
    ("ratio text", body(ram_allocation_ratio="2"), "ram_allocation_ratio"),
    ("generation negative", body(generation=-1), "generation"),
    ("too many reserved cpus", body(reserved_host_cpus=9), "reserved_host_cpus"),
    ("too much reserved memory", body(reserved_host_memory_mb=10**6), "reserved_host_memory_mb"),
]


@pytest.mark.parametrize(("doc", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_a_400_naming_the_field(
    client: httpx.Client, host: str, doc: dict[str, Any], field: str
) -> None:
    resp = client.put(_url(host), json=doc)
    assert resp.status_code == 400, resp.text
    assert field in resp.json()["errors"][0]["detail"]
    assert client.get(_url(host)).status_code == 404
    assert _inventories(client, host) == {}
    assert set(_tree(client, host)) == {"cn1"}


def test_bodies_that_are_not_a_topology(client: httpx.Client, host: str) -> None:
    for content, ctype, status in (
        (b"{", "application/json", 400),
        (b"[]", "application/json", 400),
        (b"{}", "text/plain", 415),
    ):
        resp = client.put(_url(host), content=content, headers={"Content-Type": ctype})
        assert resp.status_code == status, resp.text


# --------------------------------------------------------------------------- other processes


def _candidates(client: httpx.Client, query: str) -> list[dict[str, Any]]:
    resp = client.get(f"/allocation_candidates?{query}", headers=_v("1.36"))
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["allocation_requests"]
    return found


def test_other_processes_see_the_topology_in_candidates(
    app: PlacementApp, db_url: str, host: str
) -> None:
    query = (
        "resources=PCPU:4,MEMORY_MB:1024"
        "&resources1=SRIOV_NET_VF:1&required1=CUSTOM_PHYSNET_PHYSNET1"
        f"&resources2={GPUS}:2&group_policy=none"
    )
    other = build_app(db_url, ApiConfig())
    try:
        with make_client(other) as reader, make_client(app) as writer:
            # The other process has its resident index loaded before the change.
            assert reader.get("/allocation_candidates?resources=VCPU:1").status_code == 200
            assert writer.put(_url(host), json=body()).status_code == 200
            found = _candidates(reader, query)
            assert len(found) == 1
            assert set(found[0]["allocations"]) == {
                host,
                child_uuid(host, f"pf:{PF1}"),
                child_uuid(host, "pci:10de:1db4"),
            }
            # Removing a device is seen as well.
            doc = body()
            doc["devices"] = [d for d in doc["devices"] if d["device_type"] != "type-PCI"]
            assert writer.put(_url(host), json=doc).status_code == 200
            assert _candidates(reader, query) == []
        fresh = build_app(db_url, ApiConfig())
        try:
            with make_client(fresh) as c:
                assert len(_candidates(c, "resources=PCPU:8,SRIOV_NET_VF:2")) >= 1
        finally:
            fresh.state.store.dispose()
    finally:
        other.state.store.dispose()
