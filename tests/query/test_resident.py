"""The resident index answers exactly what a fresh per-request snapshot would.

Random sequences of API writes (providers incl. nested ones, re-parenting, inventories,
traits, aggregates at 1.1 and 1.19, allocations by PUT/POST/DELETE, reshaper) are
interleaved with candidate queries; after every step each query's response (resident
index, through the API) must equal the rendering of ``find(snapshot.take(...))`` (the
old path). Targeted tests pin down visibility of a write on the very next query and the
change log's gap handling when two writers commit out of order.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text, update

from berth.api import candidate_params
from berth.api.app import PlacementApp
from berth.api.handlers.allocation_candidates import render
from berth.api.microversion import MAX_VERSION, Version
from berth.db import changes, snapshot, tables
from berth.db.engine import Store
from berth.query import candidates, resident
from query.cloudgen import scope_for

AGGS = [str(uuid.UUID(int=i + 1)) for i in range(3)]
TRAITS = ["CUSTOM_A", "CUSTOM_B", "MISC_SHARES_VIA_AGGREGATE", "HW_CPU_X86_AVX"]
CLASSES = ["VCPU", "MEMORY_MB", "DISK_GB"]
QUERIES = [
    ("resources=VCPU:1", "latest"),
    ("resources=VCPU:1,DISK_GB:10", "latest"),
    ("resources=VCPU:1,MEMORY_MB:64&required=!CUSTOM_A", "latest"),
    ("resources=DISK_GB:10&required=CUSTOM_B", "latest"),
    (f"resources=VCPU:1&member_of=in:{AGGS[0]},{AGGS[1]}", "latest"),
    ("resources1=VCPU:1&resources2=MEMORY_MB:64&group_policy=isolate", "latest"),
    ("resources=VCPU:1,MEMORY_MB:64&limit=2", "latest"),
    ("resources=VCPU:2,DISK_GB:10", "1.28"),
    ("resources_1=VCPU:1&required_2=CUSTOM_B&same_subtree=_1,_2&group_policy=none", "latest"),
    ("resources=VCPU:1&root_required=!CUSTOM_A", "latest"),
]


def _wipe(store: Store) -> None:
    """Empty the data tables behind the API's back, and say so in the change log (as
    an operator's bulk edit would have to)."""
    with store.write() as conn:
        for table in (
            "allocations",
            "consumers",
            "resource_provider_traits",
            "resource_provider_aggregates",
            "inventories",
        ):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(
            text("UPDATE resource_providers SET parent_provider_id = NULL, root_provider_id = NULL")
        )
        conn.execute(text("DELETE FROM resource_providers"))
        changes.touch_everything(conn)


def _compare(client: httpx.Client, store: Store, query: str, version: str) -> Any:
    """GET the query (resident index) and check it against the snapshot path."""
    resp = client.get(
        f"/allocation_candidates?{query}",
        headers={"OpenStack-API-Version": f"placement {version}"},
    )
    assert resp.status_code == 200, resp.text
    ver = MAX_VERSION if version == "latest" else Version.parse(version)
    pairs = list(httpx.QueryParams(query).multi_items())
    request = candidate_params.parse(pairs, ver)
    expected = render(
        candidates.find(snapshot.take(store, scope_for(request)), request), request, ver
    )
    assert resp.json() == expected, query
    return expected


def _compare_all(client: httpx.Client, store: Store) -> None:
    for query, version in QUERIES:
        _compare(client, store, query, version)


def _generation(client: httpx.Client, rp: str) -> int | None:
    resp = client.get(f"/resource_providers/{rp}")
    return int(resp.json()["generation"]) if resp.status_code == 200 else None


def _consumer_generation(client: httpx.Client, consumer: str) -> int | None:
    body = client.get(f"/allocations/{consumer}").json()
    gen = body.get("consumer_generation")
    return int(gen) if gen is not None else None


def _alloc_body(client: httpx.Client, consumer: str, rps: list[str], n: int) -> Any:
    """Allocate ``n`` units (of each provider's first class) from each of ``rps``."""
    allocations = {}
    for rp in rps:
        invs = client.get(f"/resource_providers/{rp}/inventories").json().get("inventories", {})
        if invs:
            rc = sorted(invs)[0]
            allocations[rp] = {"resources": {rc: n * {"MEMORY_MB": 64, "DISK_GB": 10}.get(rc, 1)}}
    return {
        "allocations": allocations,
        "project_id": "p",
        "user_id": "u",
        "consumer_generation": _consumer_generation(client, consumer),
        "consumer_type": "INSTANCE",
    }


def _inventories(data: st.DataObject) -> Any:
    return {
        rc: {
            "total": data.draw(st.integers(1, 8), label=rc)
            * {"MEMORY_MB": 64, "DISK_GB": 10}.get(rc, 1)
        }
        for rc in data.draw(st.sets(st.sampled_from(CLASSES)), label="classes")
    }


def _step(client: httpx.Client, data: st.DataObject, rps: list[str], consumers: list[str]) -> None:
    """One random write through the API (failures such as 409s are part of the game)."""
    kinds = ["create", "inventory", "traits", "aggregates", "allocate", "post_allocations"]
    kinds += ["delete", "reparent", "release", "reshape"]
    kind = data.draw(st.sampled_from(kinds), label="kind") if rps else "create"
    pick = st.sampled_from(rps) if rps else st.nothing()
    if kind == "create":
        parent = data.draw(st.none() | pick, label="parent") if rps else None
        body: dict[str, Any] = {"name": f"rp-{uuid.uuid4().hex[:8]}"}
        if parent:
            body["parent_provider_uuid"] = parent
        resp = client.post("/resource_providers", json=body)
        if resp.status_code == 200:
            new = resp.json()["uuid"]
            rps.append(new)
            inv = {"resource_provider_generation": 0, "inventories": _inventories(data)}
            client.put(f"/resource_providers/{new}/inventories", json=inv)
        return
    rp = data.draw(pick, label="rp")
    gen = _generation(client, rp)
    if kind == "delete":
        if client.delete(f"/resource_providers/{rp}").status_code == 204:
            rps.remove(rp)
    elif kind == "reparent":
        parent = data.draw(st.none() | pick, label="new_parent")
        body = {"name": f"rp-{uuid.uuid4().hex[:8]}", "parent_provider_uuid": parent}
        client.put(
            f"/resource_providers/{rp}",
            json=body,
            headers={"OpenStack-API-Version": "placement 1.37"},
        )
    elif kind == "inventory":
        client.put(
            f"/resource_providers/{rp}/inventories",
            json={"resource_provider_generation": gen, "inventories": _inventories(data)},
        )
    elif kind == "traits":
        traits = sorted(data.draw(st.sets(st.sampled_from(TRAITS)), label="traits"))
        client.put(
            f"/resource_providers/{rp}/traits",
            json={"resource_provider_generation": gen, "traits": traits},
        )
    elif kind == "aggregates":
        aggs = sorted(data.draw(st.sets(st.sampled_from(AGGS)), label="aggs"))
        if data.draw(st.booleans(), label="old_api"):
            client.put(
                f"/resource_providers/{rp}/aggregates",
                json=aggs,
                headers={"OpenStack-API-Version": "placement 1.1"},
            )
        else:
            client.put(
                f"/resource_providers/{rp}/aggregates",
                json={"resource_provider_generation": gen, "aggregates": aggs},
            )
    elif kind in ("allocate", "post_allocations"):
        consumer = data.draw(st.sampled_from([*consumers, str(uuid.uuid4())]), label="consumer")
        targets = [rp] if data.draw(st.booleans(), label="one") else sorted({rp, *rps[:1]})
        body = _alloc_body(client, consumer, targets, data.draw(st.integers(1, 3), label="n"))
        if kind == "allocate":
            resp = client.put(f"/allocations/{consumer}", json=body)
        else:
            resp = client.post("/allocations", json={consumer: body})
        if resp.status_code == 204 and consumer not in consumers:
            consumers.append(consumer)
    elif kind == "release" and consumers:
        consumer = data.draw(st.sampled_from(consumers), label="gone")
        client.delete(f"/allocations/{consumer}")
        consumers.remove(consumer)
    elif kind == "reshape":
        invs = {"DISK_GB": {"total": data.draw(st.integers(10, 40), label="disk")}}
        body = {
            "inventories": {rp: {"resource_provider_generation": gen, "inventories": invs}},
            "allocations": {},
        }
        client.post("/reshaper", json=body)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_resident_index_matches_fresh_snapshots(
    client: httpx.Client, store: Store, data: st.DataObject
) -> None:
    _wipe(store)
    for trait in (t for t in TRAITS if t.startswith("CUSTOM_")):
        assert client.put(f"/traits/{trait}").status_code in (201, 204)
    rps: list[str] = []
    consumers: list[str] = []
    for _ in range(data.draw(st.integers(4, 14), label="steps")):
        _step(client, data, rps, consumers)
        _compare_all(client, store)


def _provider(client: httpx.Client, name: str, vcpus: int) -> str:
    resp = client.post("/resource_providers", json={"name": name})
    assert resp.status_code == 200, resp.text
    rp = str(resp.json()["uuid"])
    inv = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": vcpus}}}
    assert client.put(f"/resource_providers/{rp}/inventories", json=inv).status_code == 200
    return rp


def _hosts(client: httpx.Client, query: str = "resources=VCPU:2") -> set[str]:
    resp = client.get(f"/allocation_candidates?{query}")
    assert resp.status_code == 200, resp.text
    return {rp for areq in resp.json()["allocation_requests"] for rp in areq["allocations"]}


def test_a_write_is_seen_by_the_very_next_query(client: httpx.Client, app: PlacementApp) -> None:
    index = resident.for_store(app.state.store)
    a = _provider(client, "a", 4)
    assert _hosts(client) == {a}
    assert index.last_refresh.kind == "full"
    consumer = str(uuid.uuid4())
    body = _alloc_body(client, consumer, [a], 3)
    assert client.put(f"/allocations/{consumer}", json=body).status_code == 204
    assert _hosts(client) == set()
    assert index.last_refresh.kind == "usage"
    assert client.delete(f"/allocations/{consumer}").status_code == 204
    assert _hosts(client) == {a}
    b = _provider(client, "b", 4)
    assert _hosts(client) == {a, b}
    assert index.last_refresh.kind == "trees"
    gen = _generation(client, b)
    traits = {"resource_provider_generation": gen, "traits": ["CUSTOM_A"]}
    assert client.put("/traits/CUSTOM_A").status_code in (201, 204)
    assert client.put(f"/resource_providers/{b}/traits", json=traits).status_code == 200
    assert _hosts(client, "resources=VCPU:2&required=!CUSTOM_A") == {a}
    assert client.delete(f"/resource_providers/{a}").status_code == 204
    assert _hosts(client) == {b}
    # Unknown names stay 400s (and a trait created later is then known).
    assert client.get("/allocation_candidates?resources=CUSTOM_NOPE:1").status_code == 400
    assert (
        client.get("/allocation_candidates?resources=VCPU:1&required=CUSTOM_Z").status_code == 400
    )
    assert client.put("/traits/CUSTOM_Z").status_code == 201
    assert (
        client.get("/allocation_candidates?resources=VCPU:1&required=CUSTOM_Z").status_code == 200
    )


def test_renaming_a_class_in_use_is_seen(client: httpx.Client) -> None:
    """Renames are not in the change log; the resident index notices them anyway."""
    old = {"OpenStack-API-Version": "placement 1.2"}
    assert client.post("/resource_classes", json={"name": "CUSTOM_OLD"}, headers=old).is_success
    rp = client.post("/resource_providers", json={"name": "r"}).json()["uuid"]
    inv = {"resource_provider_generation": 0, "inventories": {"CUSTOM_OLD": {"total": 4}}}
    assert client.put(f"/resource_providers/{rp}/inventories", json=inv).status_code == 200
    assert _hosts(client, "resources=CUSTOM_OLD:1") == {rp}
    renamed = client.put("/resource_classes/CUSTOM_OLD", json={"name": "CUSTOM_NEW"}, headers=old)
    assert renamed.status_code == 200, renamed.text
    assert _hosts(client, "resources=CUSTOM_NEW:1") == {rp}


def _bump_total_uncommitted(store: Store, rp_uuid: str, total: int) -> Any:
    """Begin a write that changes a provider's VCPU total and has already taken its change
    id, but has not committed; the caller commits by leaving the returned context."""
    ctx = store.write()
    conn = ctx.__enter__()
    rp = tables.resource_providers
    inv = tables.inventories
    pid = conn.execute(rp.select().where(rp.c.uuid == rp_uuid)).one().id
    conn.execute(update(inv).where(inv.c.resource_provider_id == pid).values(total=total))
    changes.touch(conn, (pid,))
    changes.flush(conn)  # the change id is taken now, as at the end of any write
    return ctx


@pytest.mark.parametrize("loaded_first", [True, False])
def test_out_of_order_commits_are_not_missed(
    client: httpx.Client, store: Store, loaded_first: bool
) -> None:
    if store.dialect == "sqlite":
        pytest.skip("SQLite serializes writers: ids always commit in order")
    a = _provider(client, "a", 1)
    b = _provider(client, "b", 1)
    if loaded_first:
        assert _hosts(client) == set()
    slow = _bump_total_uncommitted(store, a, 8)  # change id n, not yet visible
    try:
        gen = _generation(client, b)
        inv = {"resource_provider_generation": gen, "inventories": {"VCPU": {"total": 8}}}
        assert client.put(f"/resource_providers/{b}/inventories", json=inv).status_code == 200
        assert _hosts(client) == {b}  # sees id n+1; n is a gap, a unchanged so far
    finally:
        slow.__exit__(None, None, None)
    assert _hosts(client) == {a, b}  # the gap was asked for again and filled
