"""Resource provider endpoints against a real database on every engine, including the
provider list answered from the resident index (coherent with every write, in every
microversion's shape)."""

from __future__ import annotations

import uuid
from email.utils import parsedate_to_datetime

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.db import changes, snapshot
from berth.db.engine import Store
from berth.model.cloud import SnapshotScope
from berth.model.filters import AggregateFilter, ProviderQuery, TraitFilter
from berth.query.index import CloudIndex
from berth.query.providers import UnknownNames, listing, search
from conftest import _empty, make_client


def _new(client: httpx.Client, name: str, **extra: object) -> dict[str, object]:
    resp = client.post("/resource_providers", json={"name": name, **extra})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_create_old_microversion_answers_201_with_location(app) -> None:
    with make_client(app, "1.19") as c:
        u = str(uuid.uuid4())
        resp = c.post("/resource_providers", json={"name": "rp", "uuid": u})
    assert resp.status_code == 201
    assert resp.headers["location"].endswith(f"/resource_providers/{u}")
    assert "content-type" not in resp.headers


def test_create_and_show(client: httpx.Client) -> None:
    u = str(uuid.uuid4())
    body = _new(client, "rp1", uuid=u)
    assert body["uuid"] == u
    assert body["generation"] == 0
    assert body["parent_provider_uuid"] is None
    assert body["root_provider_uuid"] == u
    rels = {link["rel"] for link in body["links"]}
    assert rels == {"self", "inventories", "usages", "aggregates", "traits", "allocations"}
    got = client.get(f"/resource_providers/{u}")
    assert got.status_code == 200
    assert got.json() == body
    assert got.headers["cache-control"] == "no-cache"


def test_create_generates_uuid_and_normalizes_dashless(client: httpx.Client) -> None:
    body = _new(client, "gen")
    uuid.UUID(str(body["uuid"]))
    u = uuid.uuid4()
    assert _new(client, "dashless", uuid=u.hex)["uuid"] == str(u)
    dup = client.post("/resource_providers", json={"name": "again", "uuid": u.hex})
    assert dup.status_code == 409
    assert f"Conflicting resource provider uuid: {u} already exists" in dup.text


def test_duplicate_name_conflicts(client: httpx.Client) -> None:
    _new(client, "same")
    resp = client.post("/resource_providers", json={"name": "same"})
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.duplicate_name"


def test_bad_bodies(client: httpx.Client) -> None:
    assert client.post("/resource_providers", json={"name": "x" * 201}).status_code == 400
    assert client.post("/resource_providers", json={"name": "a", "uuid": "nope"}).status_code == 400
    assert client.post("/resource_providers", json={}).status_code == 400


def test_old_microversion_body_has_no_tree_fields(app, client: httpx.Client) -> None:
    u = str(_new(client, "old")["uuid"])
    with make_client(app, "1.13") as c:
        body = c.get(f"/resource_providers/{u}").json()
        assert set(body) == {"uuid", "name", "generation", "links"}
        assert len(body["links"]) == 6
        resp = c.post("/resource_providers", json={"name": "child", "parent_provider_uuid": u})
        assert resp.status_code == 400


def test_update_name_keeps_generation(client: httpx.Client) -> None:
    u = str(_new(client, "before")["uuid"])
    resp = client.put(f"/resource_providers/{u}", json={"name": "after"})
    assert resp.status_code == 200
    assert resp.json()["name"] == "after"
    assert resp.json()["generation"] == 0
    other = _new(client, "taken")
    clash = client.put(f"/resource_providers/{other['uuid']}", json={"name": "after"})
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["code"] == "placement.duplicate_name"
    assert client.put(f"/resource_providers/{u}", json={"name": "x", "uuid": u}).status_code == 400
    missing = client.put(f"/resource_providers/{uuid.uuid4()}", json={"name": "y"})
    assert missing.status_code == 404


def test_tree_create_reparent_unparent(app, client: httpx.Client) -> None:
    root = str(_new(client, "root")["uuid"])
    child = str(_new(client, "child", parent_provider_uuid=root)["uuid"])
    grandchild = _new(client, "grandchild", parent_provider_uuid=child)
    assert grandchild["root_provider_uuid"] == root
    other = str(_new(client, "other")["uuid"])

    with make_client(app, "1.36") as old:
        resp = old.put(
            f"/resource_providers/{child}", json={"name": "child", "parent_provider_uuid": other}
        )
        assert resp.status_code == 400
        assert "re-parenting a provider is not currently allowed" in resp.text
        resp = old.put(
            f"/resource_providers/{child}", json={"name": "child", "parent_provider_uuid": None}
        )
        assert "un-parenting a provider is not currently allowed" in resp.text
        # a root may still be given a parent before 1.37, and brings its subtree along
        resp = old.put(
            f"/resource_providers/{other}", json={"name": "other", "parent_provider_uuid": root}
        )
        assert resp.status_code == 200
        assert resp.json()["root_provider_uuid"] == root

    loop = client.put(
        f"/resource_providers/{root}",
        json={"name": "root", "parent_provider_uuid": grandchild["uuid"]},
    )
    assert loop.status_code == 400
    assert "creating loop in the provider tree is not allowed" in loop.text

    # moving child out of the tree moves grandchild with it
    resp = client.put(
        f"/resource_providers/{child}", json={"name": "child", "parent_provider_uuid": None}
    )
    assert resp.status_code == 200
    assert resp.json()["root_provider_uuid"] == child
    gc = client.get(f"/resource_providers/{grandchild['uuid']}").json()
    assert gc["root_provider_uuid"] == child
    tree = client.get(f"/resource_providers?in_tree={grandchild['uuid']}").json()
    assert {p["uuid"] for p in tree["resource_providers"]} == {child, grandchild["uuid"]}

    resp = client.put(
        f"/resource_providers/{child}", json={"name": "child", "parent_provider_uuid": other}
    )
    assert resp.status_code == 200
    gc = client.get(f"/resource_providers/{grandchild['uuid']}").json()
    assert gc["root_provider_uuid"] == root


def test_create_child_errors(client: httpx.Client) -> None:
    u = str(uuid.uuid4())
    resp = client.post(
        "/resource_providers", json={"name": "c", "uuid": u, "parent_provider_uuid": u}
    )
    assert resp.status_code == 400
    assert "parent provider UUID cannot be same as UUID" in resp.text
    resp = client.post(
        "/resource_providers", json={"name": "c", "parent_provider_uuid": str(uuid.uuid4())}
    )
    assert resp.status_code == 400
    assert "parent provider UUID does not exist" in resp.text


def test_delete(client: httpx.Client) -> None:
    parent = str(_new(client, "p")["uuid"])
    child = str(_new(client, "c", parent_provider_uuid=parent)["uuid"])
    resp = client.delete(f"/resource_providers/{parent}")
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.resource_provider.cannot_delete_parent"
    client.put(
        f"/resource_providers/{child}/aggregates",
        json={"aggregates": [str(uuid.uuid4())], "resource_provider_generation": 0},
    )
    assert client.delete(f"/resource_providers/{child}").status_code == 204
    assert client.delete(f"/resource_providers/{parent}").status_code == 204
    gone = client.delete(f"/resource_providers/{parent}")
    assert gone.status_code == 404
    assert "found for delete" in gone.text
    assert client.get("/resource_providers").json() == {"resource_providers": []}


def test_list_filters_name_uuid(client: httpx.Client) -> None:
    a = _new(client, "alpha")
    _new(client, "beta")
    assert len(client.get("/resource_providers").json()["resource_providers"]) == 2
    by_name = client.get("/resource_providers", params={"name": "alpha"}).json()
    assert [p["uuid"] for p in by_name["resource_providers"]] == [a["uuid"]]
    by_uuid = client.get("/resource_providers", params={"uuid": a["uuid"]}).json()
    assert [p["name"] for p in by_uuid["resource_providers"]] == ["alpha"]
    assert client.get("/resource_providers", params={"uuid": "spam"}).status_code == 400
    bad = client.get("/resource_providers", params={"spam": "eggs"})
    assert bad.status_code == 400
    assert "Invalid query string parameters" in bad.text


def test_list_filter_required_traits(app, client: httpx.Client) -> None:
    a = _new(client, "a")
    b = _new(client, "b")
    for p, names in ((a, ["HW_CPU_X86_SGX", "STORAGE_DISK_SSD"]), (b, ["STORAGE_DISK_SSD"])):
        resp = client.put(
            f"/resource_providers/{p['uuid']}/traits",
            json={"traits": names, "resource_provider_generation": 0},
        )
        if resp.status_code == 501:  # traits endpoints belong to another helper
            return
        assert resp.status_code == 200, resp.text

    def names(query: str) -> set[str]:
        resp = client.get(f"/resource_providers?{query}")
        assert resp.status_code == 200, resp.text
        return {p["name"] for p in resp.json()["resource_providers"]}

    assert names("required=STORAGE_DISK_SSD") == {"a", "b"}
    assert names("required=STORAGE_DISK_SSD,!HW_CPU_X86_SGX") == {"b"}
    assert names("required=in:HW_CPU_X86_SGX,HW_CPU_X86_AVX") == {"a"}
    assert names("required=!STORAGE_DISK_SSD") == set()
    bogus = client.get("/resource_providers?required=BOGUS_TRAIT")
    assert bogus.status_code == 400
    assert "No such trait(s): BOGUS_TRAIT." in bogus.text
    with make_client(app, "1.17") as old:
        assert old.get("/resource_providers?required=STORAGE_DISK_SSD").status_code == 400


# --- the list comes from the resident index: coherent with every write ---------------

_TRAITS = ["CUSTOM_A", "CUSTOM_B", "HW_CPU_X86_AVX2"]
_AGGS = [str(uuid.UUID(int=0xA0 + i)) for i in range(2)]
_FILTERS = [
    ProviderQuery(),
    ProviderQuery(resources={"VCPU": 2}),
    ProviderQuery(resources={"VCPU": 1, "MEMORY_MB": 64}),
    ProviderQuery(traits=TraitFilter(required=frozenset({"CUSTOM_A"}))),
    ProviderQuery(traits=TraitFilter(forbidden=frozenset({"CUSTOM_B"}))),
    ProviderQuery(member_of=AggregateFilter(any_of=(frozenset(_AGGS),))),
    ProviderQuery(member_of=AggregateFilter(forbidden=frozenset(_AGGS[:1]))),
]


def _gen(client: httpx.Client, rp: str) -> int:
    return int(client.get(f"/resource_providers/{rp}").json()["generation"])


def _write(client: httpx.Client, data: st.DataObject, rps: list[str]) -> None:
    """One random write through the API (refusals such as 409s are part of the game)."""
    kinds = ["create", "rename", "reparent", "inventory", "traits", "aggregates"]
    kinds += ["allocate", "release", "delete"]
    kind = data.draw(st.sampled_from(kinds), label="kind") if rps else "create"
    if kind == "create":
        body: dict[str, object] = {"name": f"rp-{uuid.uuid4().hex[:8]}"}
        parent = data.draw(st.none() | st.sampled_from(rps), label="parent") if rps else None
        if parent:
            body["parent_provider_uuid"] = parent
        resp = client.post("/resource_providers", json=body)
        assert resp.status_code == 200, resp.text
        rps.append(resp.json()["uuid"])
        return
    rp = data.draw(st.sampled_from(rps), label="rp")
    path = f"/resource_providers/{rp}"
    if kind == "rename":
        current = client.get(path).json()
        name = data.draw(st.sampled_from([current["name"], f"n-{uuid.uuid4().hex[:6]}"]))
        assert client.put(path, json={"name": name}).status_code == 200
    elif kind == "reparent":
        body = {"name": client.get(path).json()["name"]}
        body["parent_provider_uuid"] = data.draw(st.none() | st.sampled_from(rps), label="to")
        client.put(path, json=body, headers={"OpenStack-API-Version": "placement 1.37"})
    elif kind == "inventory":
        totals = {"VCPU": data.draw(st.integers(1, 4)), "MEMORY_MB": data.draw(st.integers(64, 99))}
        invs = {rc: {"total": n} for rc, n in totals.items() if data.draw(st.booleans(), label=rc)}
        body = {"resource_provider_generation": _gen(client, rp), "inventories": invs}
        client.put(f"{path}/inventories", json=body)
    elif kind == "traits":
        names = sorted(data.draw(st.sets(st.sampled_from(_TRAITS)), label="traits"))
        body = {"resource_provider_generation": _gen(client, rp), "traits": names}
        assert client.put(f"{path}/traits", json=body).status_code == 200
    elif kind == "aggregates":
        aggs = sorted(data.draw(st.sets(st.sampled_from(_AGGS)), label="aggs"))
        body = {"resource_provider_generation": _gen(client, rp), "aggregates": aggs}
        assert client.put(f"{path}/aggregates", json=body).status_code == 200
    elif kind == "allocate":
        body = {
            "allocations": {rp: {"resources": {"VCPU": 1}}},
            "project_id": "p",
            "user_id": "u",
            "consumer_generation": None,
        }
        client.put(f"/allocations/{uuid.UUID(int=int(uuid.UUID(rp)) ^ 1)}", json=body)
    elif kind == "release":
        client.delete(f"/allocations/{uuid.UUID(int=int(uuid.UUID(rp)) ^ 1)}")
    elif kind == "delete" and client.delete(path).status_code == 204:
        rps.remove(rp)


def _check_list(app, store: Store, rps: list[str]) -> None:
    """Every microversion's list shows what each provider's own GET shows (names,
    generations, tree, links) with the newest Last-Modified; each filter finds what a
    fresh snapshot of the database would."""
    for version in ("1.0", "1.13", "1.14", "latest"):
        with make_client(app, version) as c:
            listed = c.get("/resource_providers")
            assert listed.status_code == 200
            shown = [c.get(f"/resource_providers/{rp}") for rp in rps]
            by_uuid = {p["uuid"]: p for p in listed.json()["resource_providers"]}
            assert by_uuid == {r.json()["uuid"]: r.json() for r in shown}, version
            if version == "latest" and rps:  # Last-Modified from 1.15
                stamps = [parsedate_to_datetime(r.headers["last-modified"]) for r in shown]
                assert parsedate_to_datetime(listed.headers["last-modified"]) == max(stamps)
    fresh = CloudIndex(snapshot.take(store, SnapshotScope(everything=True)))
    for query in _FILTERS:
        expected = sorted(fresh.nodes[pid].uuid for pid in search(fresh, query, UnknownNames()))
        with listing(store, query) as (index, found):
            assert sorted(index.nodes[pid].uuid for pid in found) == expected, query


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_list_is_coherent_with_every_write(app, client: httpx.Client, data: st.DataObject) -> None:
    store = app.state.store
    _empty(store)
    with store.write() as conn:
        changes.touch_everything(conn)
    for trait in _TRAITS[:2]:
        assert client.put(f"/traits/{trait}").status_code in (201, 204)
    rps: list[str] = []
    for _ in range(data.draw(st.integers(3, 12), label="steps")):
        _write(client, data, rps)
        _check_list(app, store, rps)


def test_list_answers_in_placements_order(client: httpx.Client) -> None:
    """An unknown tree, or required traits / aggregates nobody has, answer an empty list
    before unknown names are checked; otherwise unknown names are 400s."""
    rp = str(_new(client, "p")["uuid"])

    def get(query: str) -> httpx.Response:
        return client.get(f"/resource_providers?{query}")

    assert get(f"in_tree={uuid.uuid4()}&resources=CUSTOM_NOPE:1").json() == {
        "resource_providers": []
    }
    assert get(f"member_of={uuid.uuid4()}&resources=CUSTOM_NOPE:1").status_code == 200
    assert get("required=HW_CPU_X86_AVX2,!CUSTOM_NOPE").status_code == 200
    bad = get("resources=VCPU:1,CUSTOM_NOPE:1")
    assert bad.status_code == 400
    detail = bad.json()["errors"][0]["detail"]
    assert "resources parameter: No such resource class CUSTOM_NOPE." in detail
    bad = get("required=!CUSTOM_NOPE")
    assert bad.status_code == 400
    detail = bad.json()["errors"][0]["detail"]
    assert 'Invalid trait(s) in "required" parameter: No such trait(s): CUSTOM_NOPE.' in detail
    assert get(f"uuid={uuid.uuid4()}&resources=CUSTOM_NOPE:1").status_code == 400
    # An empty name does not filter (Placement ignores a falsy name).
    assert [p["uuid"] for p in get("name=").json()["resource_providers"]] == [rp]


def test_list_links_follow_the_mount_prefix(app) -> None:
    rp = str(_new(make_client(app), "p")["uuid"])
    transport = httpx.WSGITransport(app=app, script_name="/placement")
    headers = {"X-Auth-Token": "admin", "OpenStack-API-Version": "placement latest"}
    with httpx.Client(transport=transport, base_url="http://b", headers=headers) as c:
        body = c.get("/resource_providers").json()
    assert body["resource_providers"][0]["links"][0] == {
        "rel": "self",
        "href": f"/placement/resource_providers/{rp}",
    }
