"""POST /berth/v1/provider_trees: the bulk-load extension through the API.

A bulk-loaded tree must read back exactly as the same tree built with Placement's four
calls per provider; every bad batch is a 4xx in Placement's error format naming the item,
and leaves nothing behind; other workers' resident indexes see the load at once.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.test_policy import PERSONAS, PROJECT
from berth.api.app import PlacementApp
from berth.api.policy import Enforcer
from berth.api.policy_defaults import RULE_NAMES
from berth.api.state import ApiConfig
from berth.server import build_app
from conftest import make_client

PATH = "/berth/v1/provider_trees"
AGG_1 = str(uuid.UUID(int=11))
AGG_2 = str(uuid.UUID(int=12))
CUSTOM = "CUSTOM_RACK_A"


def _u() -> str:
    return str(uuid.uuid4())


def _tree(prefix: str, parent: str | None = None) -> list[dict[str, Any]]:
    """A compute node, a NUMA child and a NIC grandchild, as batch items."""
    root, numa, nic = _u(), _u(), _u()
    cn: dict[str, Any] = {
        "uuid": root,
        "name": f"{prefix}-cn",
        "inventories": {
            "VCPU": {"total": 64, "allocation_ratio": 4.0, "max_unit": 32},
            "MEMORY_MB": {"total": 131072, "reserved": 512, "min_unit": 256, "step_size": 256},
            "DISK_GB": {"total": 1000},
        },
        "traits": ["HW_CPU_X86_AVX2", CUSTOM],
        "aggregates": [AGG_1, AGG_2],
    }
    if parent is not None:
        cn["parent_provider_uuid"] = parent
    return [
        cn,
        {
            "uuid": numa,
            "name": f"{prefix}-numa0",
            "parent_provider_uuid": root,
            "inventories": {"PCPU": {"total": 16}},
            "traits": ["HW_NUMA_ROOT"],
        },
        {
            "uuid": nic,
            "name": f"{prefix}-nic",
            "parent_provider_uuid": numa,
            "inventories": {"SRIOV_NET_VF": {"total": 8}},
            "aggregates": [],
        },
    ]


@pytest.fixture
def seeded(client: httpx.Client) -> httpx.Client:
    assert client.put(f"/traits/{CUSTOM}").status_code == 201
    return client


def _load(client: httpx.Client, items: list[dict[str, Any]], **kw: Any) -> httpx.Response:
    return client.post(PATH, json={"providers": items}, **kw)


def _per_call(client: httpx.Client, item: dict[str, Any]) -> None:
    """The same provider the way Placement needs it: four requests."""
    body = {k: item[k] for k in ("uuid", "name", "parent_provider_uuid") if k in item}
    created = client.post("/resource_providers", json=body)
    assert created.status_code == 200, created.text
    base = f"/resource_providers/{item['uuid']}"
    gen = created.json()["generation"]
    for key, empty in (("inventories", {}), ("traits", []), ("aggregates", [])):
        body = {"resource_provider_generation": gen, key: item.get(key, empty)}
        put = client.put(f"{base}/{key}", json=body)
        assert put.status_code == 200, put.text
        gen = put.json()["resource_provider_generation"]


def _read_back(client: httpx.Client, rp: str, rename: dict[str, str]) -> dict[str, Any]:
    """Everything the API shows about ``rp``, uuids mapped through ``rename``."""
    base = f"/resource_providers/{rp}"
    shown = client.get(base).json()
    return {
        "name": shown["name"].replace("percall-", ""),
        "parent": rename.get(shown["parent_provider_uuid"], shown["parent_provider_uuid"]),
        "root": rename.get(shown["root_provider_uuid"]),
        "inventories": client.get(f"{base}/inventories").json()["inventories"],
        "traits": sorted(client.get(f"{base}/traits").json()["traits"]),
        "aggregates": sorted(client.get(f"{base}/aggregates").json()["aggregates"]),
        "usages": client.get(f"{base}/usages").json()["usages"],
    }


def _renamed(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A copy of ``items`` with fresh uuids and names, and new uuid -> old uuid."""
    fresh = {item["uuid"]: _u() for item in items}
    out = copy.deepcopy(items)
    for item in out:
        item["uuid"] = fresh[item["uuid"]]
        item["name"] = f"percall-{item['name']}"
        if item.get("parent_provider_uuid") in fresh:
            item["parent_provider_uuid"] = fresh[item["parent_provider_uuid"]]
    return out, {new: old for old, new in fresh.items()}


def test_bulk_reads_back_like_per_call(seeded: httpx.Client) -> None:
    client = seeded
    items = _tree("a") + _tree("b")
    resp = _load(client, items)
    assert resp.status_code == 201, resp.text
    assert resp.json() == {
        "resource_providers": [{"uuid": item["uuid"], "generation": 0} for item in items]
    }
    twins, back = _renamed(items)
    for twin in twins:
        _per_call(client, twin)
    identity = {item["uuid"]: item["uuid"] for item in items}
    for item, twin in zip(items, twins, strict=True):
        assert _read_back(client, item["uuid"], identity) == _read_back(client, twin["uuid"], back)
        assert client.get(f"/resource_providers/{item['uuid']}").json()["generation"] == 0
    listed = client.get("/resource_providers", params={"in_tree": items[2]["uuid"]}).json()
    assert {rp["uuid"] for rp in listed["resource_providers"]} == {i["uuid"] for i in items[:3]}


def test_children_of_an_existing_provider(seeded: httpx.Client) -> None:
    client = seeded
    parent = _u()
    assert client.post("/resource_providers", json={"uuid": parent, "name": "p"}).status_code
    items = _tree("c", parent=parent.replace("-", "").upper())  # any uuid form Placement takes
    assert _load(client, items).status_code == 201
    shown = client.get(f"/resource_providers/{items[2]['uuid']}").json()
    assert shown["root_provider_uuid"] == parent


def _counts(client: httpx.Client) -> tuple[int, int]:
    providers = client.get("/resource_providers").json()["resource_providers"]
    aggs = sum(
        len(client.get(f"/resource_providers/{rp['uuid']}/aggregates").json()["aggregates"])
        for rp in providers
    )
    return len(providers), aggs


def _bad_batches(taken: dict[str, str]) -> Iterator[tuple[str, Any, int, str]]:
    """(what, body, status, text the error detail must contain)."""

    def batch(change: Any) -> dict[str, Any]:
        items = _tree("a") + _tree("b")
        change(items)
        return {"providers": items}

    def set_(i: int, key: str, value: Any) -> Any:
        return lambda items: items[i].__setitem__(key, value)

    def inv(i: int, rc: str, **fields: Any) -> Any:
        return lambda items: items[i]["inventories"].__setitem__(rc, {"total": 4, **fields})

    def parent_of(i: int, j: int) -> Any:
        return lambda items: items[i].__setitem__("parent_provider_uuid", items[j]["uuid"])

    def same_uuid(i: int, j: int) -> Any:
        return lambda items: items[i].__setitem__("uuid", items[j]["uuid"])

    yield "unknown class", batch(inv(4, "CUSTOM_NOPE")), 400, "providers[4] (uuid "
    yield "unknown trait", batch(set_(3, "traits", ["CUSTOM_NOPE"])), 400, "No such trait(s)"
    yield "reserved > total", batch(inv(1, "PCPU", reserved=5)), 400, "inventories.PCPU"
    yield "total 0", batch(inv(2, "VCPU", total=0)), 400, "providers[2] (uuid "
    yield "negative reserved", batch(inv(0, "VCPU", reserved=-1)), 400, "providers[0] (uuid "
    yield "ratio as text", batch(inv(5, "VCPU", allocation_ratio="x")), 400, "providers[5]"
    yield "too big", batch(inv(0, "VCPU", max_unit=2**31)), 400, "JSON does not validate"
    yield "unknown field", batch(inv(0, "VCPU", colour=1)), 400, "providers[0]"
    yield "bad class name", batch(inv(0, "vcpu")), 400, "providers[0]"
    yield "missing parent", batch(set_(3, "parent_provider_uuid", _u())), 400, "does not exist"
    yield "self parent", batch(parent_of(1, 1)), 400, "cannot be same"
    yield "loop", batch(parent_of(0, 2)), 400, "after its child"
    yield "dup uuid", batch(same_uuid(4, 1)), 409, "providers[4] (uuid "
    yield "dup name", batch(set_(5, "name", "a-cn")), 409, "is also providers[0]"
    yield "taken uuid", batch(set_(2, "uuid", taken["uuid"])), 409, "already exists"
    yield "taken name", batch(set_(2, "name", taken["name"])), 409, "already exists"
    yield "bad uuid", batch(set_(1, "uuid", "not-a-uuid")), 400, "providers[1] (uuid not-a-uuid)"
    yield "name too long", batch(set_(1, "name", "x" * 201)), 400, "providers[1]"
    yield "name a number", batch(set_(1, "name", 7)), 400, "providers[1]"
    yield "traits a string", batch(set_(1, "traits", "HW_NUMA_ROOT")), 400, "providers[1]"
    yield "dup aggregates", batch(set_(0, "aggregates", [AGG_1, AGG_1])), 400, "providers[0]"
    yield "item a string", {"providers": ["cn1"]}, 400, "providers[0]: JSON does not validate"
    yield "missing name", batch(lambda it: it[3].pop("name")), 400, "providers[3]"
    yield "not a list", {"providers": {"uuid": _u()}}, 400, "JSON does not validate"
    yield "empty", {"providers": []}, 400, "JSON does not validate"
    yield "extra key", {"providers": _tree("z"), "more": 1}, 400, "JSON does not validate"
    yield "a list", [_tree("z")], 400, "JSON does not validate"


def test_bad_batches_are_refused_whole(seeded: httpx.Client) -> None:
    client = seeded
    taken = {"uuid": _u(), "name": "taken"}
    assert client.post("/resource_providers", json=taken).status_code == 200
    before = _counts(client)
    for what, body, status, text in _bad_batches(taken):
        resp = client.post(PATH, json=body)
        assert resp.status_code == status, (what, resp.text)
        error = resp.json()["errors"][0]
        assert error["status"] == status
        assert text in error["detail"], (what, error["detail"])
        if what in ("dup name", "taken name"):
            assert error["code"] == "placement.duplicate_name"
        assert _counts(client) == before, what


def test_reserved_equal_to_total_follows_the_microversion(seeded: httpx.Client) -> None:
    items = _tree("r")
    items[1]["inventories"]["PCPU"]["reserved"] = 16
    old = _load(seeded, items, headers={"OpenStack-API-Version": "placement 1.25"})
    assert old.status_code == 400
    assert "greater than or equal to total" in old.json()["errors"][0]["detail"]
    assert _load(seeded, items).status_code == 201


def test_batch_size_is_bounded(db_url: str) -> None:
    app = build_app(db_url, ApiConfig(bulk_max_providers=5))
    try:
        with make_client(app) as client:
            client.put(f"/traits/{CUSTOM}")
            resp = _load(client, _tree("a") + _tree("b"))
            assert resp.status_code == 413
            assert "at most 5 per request" in resp.json()["errors"][0]["detail"]
            assert client.get("/resource_providers").json()["resource_providers"] == []
            assert _load(client, _tree("a")).status_code == 201
    finally:
        app.state.store.dispose()


def test_admin_only(seeded: httpx.Client, app: PlacementApp, db_url: str) -> None:
    for token, roles in (("user:proj", None), ("svc:proj", "service"), ("u:p", "member,reader")):
        headers = {"X-Roles": roles} if roles else {}
        with make_client(app, token=token) as other:
            resp = _load(other, _tree(token.replace(":", "")), headers=headers)
            assert resp.status_code == 403, resp.text
            assert "berth:provider_trees:create" in resp.json()["errors"][0]["detail"]
    secure = build_app(db_url, ApiConfig(policy_defaults="secure"))
    try:
        with make_client(secure, token="someone:proj") as admin:
            resp = _load(admin, _tree("s"), headers={"X-Roles": "admin"})
            assert resp.status_code == 201, resp.text
        with make_client(secure, token="svc:proj") as service:
            resp = _load(service, _tree("t"), headers={"X-Roles": "service"})
            assert resp.status_code == 403
    finally:
        secure.state.store.dispose()


def test_only_post(client: httpx.Client) -> None:
    resp = client.get(PATH)
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"


def _candidates(client: httpx.Client) -> set[str]:
    resp = client.get("/allocation_candidates", params={"resources": "VCPU:1,SRIOV_NET_VF:1"})
    assert resp.status_code == 200, resp.text
    return set(resp.json()["provider_summaries"])


def test_other_workers_see_the_load(seeded: httpx.Client, db_url: str) -> None:
    """A worker whose resident index is already warm, and a fresh one, both answer from
    the loaded trees as soon as the load returned."""
    warm: PlacementApp = build_app(db_url, ApiConfig(), upgrade=False)
    try:
        with make_client(warm) as reader:
            assert _candidates(reader) == set()  # warmed on an empty cloud
            items = _tree("w") + _tree("x")
            assert _load(seeded, items).status_code == 201
            expected = {item["uuid"] for item in items}
            assert _candidates(reader) == expected
        fresh = build_app(db_url, ApiConfig(), upgrade=False)
        try:
            with make_client(fresh) as reader:
                assert _candidates(reader) == expected
        finally:
            fresh.state.store.dispose()
    finally:
        warm.state.store.dispose()


@pytest.mark.parametrize("mode", ["legacy", "secure"])
def test_policy_default_is_admin_only(mode: str) -> None:
    enforcer = Enforcer(mode)
    allowed = {
        name
        for name, ctx in PERSONAS.items()
        if enforcer.allowed(ctx, "berth:provider_trees:create", {"project_id": PROJECT})
    }
    assert allowed == {"admin", "project_admin"}
    assert "berth:provider_trees:create" in RULE_NAMES
