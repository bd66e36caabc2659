"""The invariants checked after every step of the property tests.

Three kinds: the step's own outcome (accepted exactly when Placement accepts it, with
exactly the predicted tables; refused with nothing changed), the invariants of the
database that hold at every moment (every allocation is backed by inventory, consumers
exist exactly while they hold something, over-capacity only where inventory shrank), and
the API's read views, which must equal what the tables say.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from property.dbstate import Snapshot
from property.oracle import INCREASED, PLUS1, Outcome


def _v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement {version}"}


def outcome(
    label: str, resp: httpx.Response, expected: Outcome, before: Snapshot, after: Snapshot
) -> None:
    """The response and the tables after it match the oracle's prediction."""
    status = resp.status_code
    assert status < 500, f"{label}: {status} {resp.text}"
    if expected.accepted:
        assert 200 <= status < 300, (
            f"{label}: refused with {status} although Placement accepts it: {resp.text}"
        )
    else:
        assert 400 <= status < 500, (
            f"{label}: accepted with {status} although it must be refused ({expected.why})"
        )
    if status >= 400:
        _unchanged(label, before, after)
        body = resp.json()
        assert body["errors"][0]["status"] == status, f"{label}: {body}"
        return
    state = expected.state
    assert state is not None
    assert after.allocations == state.allocations, f"{label}: allocations differ"
    assert after.consumers == state.consumers, f"{label}: consumers differ"
    assert after.inventories == state.inventories, f"{label}: inventories differ"
    assert after.classes == state.classes, f"{label}: resource classes differ"
    assert set(after.providers) == set(state.providers), f"{label}: providers differ"
    for uuid, row in after.providers.items():
        want = state.providers[uuid]
        assert (row.parent, row.root) == (want.parent, want.root), f"{label}: tree of {uuid}"
        if uuid not in before.providers:
            assert row.generation == 0, f"{label}: new provider {uuid} at {row.generation}"
            continue
        old = before.providers[uuid].generation
        how = expected.bumped.get(uuid)
        if how == PLUS1:
            assert row.generation == old + 1, f"{label}: {uuid} generation {old}->{row.generation}"
        elif how == INCREASED:
            assert row.generation > old, f"{label}: {uuid} generation {old}->{row.generation}"
        else:
            assert row.generation == old, (
                f"{label}: {uuid} generation moved {old}->{row.generation}"
            )
    usage = after.usage()
    for pair in sorted(expected.checked):
        rec = after.inventories[pair]
        assert usage.get(pair, 0) <= rec.capacity, (
            f"{label}: accepted allocation leaves {pair} at {usage.get(pair)} > {rec.capacity}"
        )


def _unchanged(label: str, before: Snapshot, after: Snapshot) -> None:
    for table, rows in before.raw.items():
        assert after.raw[table] == rows, (
            f"{label}: refused request changed table {table}:\n"
            f"  before {rows}\n  after  {after.raw[table]}"
        )


def database(label: str, before: Snapshot, after: Snapshot, inventory_changed: set[str]) -> None:
    """Invariants of the tables themselves, whatever the step was."""
    assert not after.duplicate_allocation_rows, f"{label}: {after.duplicate_allocation_rows}"
    for (c, rp, rc), used in after.allocations.items():
        assert used > 0, f"{label}: allocation of {used} {rc} on {rp} for {c}"
        assert (rp, rc) in after.inventories, f"{label}: {c} holds {rc} on {rp} without inventory"
    holders = {c for c, _rp, _rc in after.allocations}
    assert holders == set(after.consumers), (
        f"{label}: consumers {sorted(after.consumers)} vs holders {sorted(holders)}"
    )
    before_usage = before.usage()
    was_over = before.over_capacity()
    for pair, (used, capacity) in after.over_capacity().items():
        rp = pair[0]
        assert used <= before_usage.get(pair, 0), (
            f"{label}: usage of {pair} grew to {used} beyond capacity {capacity}"
        )
        assert pair in was_over or rp in inventory_changed, (
            f"{label}: {pair} over capacity ({used} > {capacity}) without an inventory change"
        )


def _provider_views(client: httpx.Client, snap: Snapshot, rp: str) -> None:
    usage = snap.usage()
    resp = client.get(f"/resource_providers/{rp}/usages")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    want = {rc: usage.get((rp, rc), 0) for rc in snap.inventory_of(rp)}
    assert body["usages"] == want, f"usages of {rp}: {body} vs {want}"
    assert body["resource_provider_generation"] == snap.providers[rp].generation
    resp = client.get(f"/resource_providers/{rp}/allocations")
    assert resp.status_code == 200, resp.text
    got = {c: v["resources"] for c, v in resp.json()["allocations"].items()}
    assert got == snap.on_provider(rp), f"allocations on {rp}: {got}"


def _consumer_view(client: httpx.Client, snap: Snapshot, consumer: str) -> None:
    resp = client.get(f"/allocations/{consumer}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    got = {rp: v["resources"] for rp, v in body["allocations"].items()}
    assert got == snap.of_consumer(consumer), f"allocations of {consumer}: {body}"
    row = snap.consumers.get(consumer)
    if row is None:
        return
    assert body["project_id"] == row.project_id
    assert body["user_id"] == row.user_id
    assert body["consumer_generation"] == row.generation
    assert body["consumer_type"] == (row.consumer_type or "unknown")
    for rp, v in body["allocations"].items():
        assert v["generation"] == snap.providers[rp].generation


def _sums(snap: Snapshot, project: str, user: str | None, ctype: str | None) -> dict[str, Any]:
    """What /usages must say, summed from the tables (ctype None: not filtering by type)."""
    out: dict[str, int] = {}
    holders: set[str] = set()
    for (c, _rp, rc), used in snap.allocations.items():
        row = snap.consumers[c]
        if row.project_id != project or (user is not None and row.user_id != user):
            continue
        if ctype is not None and (row.consumer_type or "unknown") != ctype:
            continue
        out[rc] = out.get(rc, 0) + used
        holders.add(c)
    return {"consumer_count": len(holders), **out} if holders else {}


def _usages_views(client: httpx.Client, snap: Snapshot, project: str, user: str | None) -> None:
    query = f"project_id={project}" + (f"&user_id={user}" if user else "")
    resp = client.get(f"/usages?{query}", headers=_v("1.9"))
    assert resp.status_code == 200, resp.text
    flat = _sums(snap, project, user, None)
    flat.pop("consumer_count", None)
    assert resp.json() == {"usages": flat}, f"/usages?{query}: {resp.json()} vs {flat}"
    resp = client.get(f"/usages?{query}", headers=_v("1.39"))
    assert resp.status_code == 200, resp.text
    types = {
        (snap.consumers[c].consumer_type or "unknown")
        for c, _rp, _rc in snap.allocations
        if snap.consumers[c].project_id == project
        and (user is None or snap.consumers[c].user_id == user)
    }
    want = {t: _sums(snap, project, user, t) for t in sorted(types)}
    assert resp.json() == {"usages": want}, f"/usages?{query} @1.39: {resp.json()} vs {want}"
    resp = client.get(f"/usages?{query}&consumer_type=all", headers=_v("1.39"))
    everything = _sums(snap, project, user, None)
    want_all = {"all": everything} if everything else {}
    assert resp.json() == {"usages": want_all}, f"all: {resp.json()} vs {want_all}"


def api_views(
    client: httpx.Client,
    snap: Snapshot,
    providers: Iterable[str],
    consumers: Iterable[str],
    projects: Iterable[tuple[str, str | None]],
) -> None:
    """The API's read views of these providers, consumers and projects match the tables."""
    for rp in sorted(providers):
        if rp in snap.providers:
            _provider_views(client, snap, rp)
    for consumer in sorted(consumers):
        _consumer_view(client, snap, consumer)
    for project, user in projects:
        _usages_views(client, snap, project, user)


def changed_views(
    before: Snapshot, after: Snapshot
) -> tuple[set[str], set[str], set[tuple[str, str | None]]]:
    """Providers, consumers and (project, user) pairs whose views a step may have changed.

    Every view is a function of these rows alone, so after a step only the views that read
    a changed row need asking again (a refused step changes no row at all).
    """
    providers = {
        rp
        for rp in set(before.providers) | set(after.providers)
        if before.providers.get(rp) != after.providers.get(rp)
    }
    pairs = set(before.inventories) | set(after.inventories)
    providers |= {p[0] for p in pairs if before.inventories.get(p) != after.inventories.get(p)}
    keys = set(before.allocations) | set(after.allocations)
    moved = {k for k in keys if before.allocations.get(k) != after.allocations.get(k)}
    providers |= {rp for _c, rp, _rc in moved}
    consumers = {c for c, _rp, _rc in moved}
    consumers |= {
        c
        for c in set(before.consumers) | set(after.consumers)
        if before.consumers.get(c) != after.consumers.get(c)
    }
    projects: set[tuple[str, str | None]] = set()
    for snap in (before, after):
        for c in consumers:
            row = snap.consumers.get(c)
            if row is not None:
                projects |= {(row.project_id, None), (row.project_id, row.user_id)}
    return providers, consumers, projects


def candidates_view(client: httpx.Client, snap: Snapshot, rc: str, amount: int) -> None:
    """GET /allocation_candidates?resources=RC:N against capacity and usage in the tables.

    One class in the unsuffixed group is never split, so the candidates are exactly the
    providers whose inventory of the class admits ``amount`` and has that much left; the
    summaries cover every provider of those providers' trees, every class they offer.
    """
    resp = client.get(f"/allocation_candidates?resources={rc}:{amount}", headers=_v("1.39"))
    if rc not in snap.classes:
        assert resp.status_code == 400, resp.text
        return
    assert resp.status_code == 200, resp.text
    body = resp.json()
    usage = snap.usage()
    fits = sorted(
        rp
        for (rp, irc), rec in snap.inventories.items()
        if irc == rc and rec.admits(amount) and usage.get((rp, rc), 0) + amount <= rec.capacity
    )
    got = sorted(
        (rp, res["resources"][rc])
        for areq in body["allocation_requests"]
        for rp, res in areq["allocations"].items()
    )
    assert got == [(rp, amount) for rp in fits], f"candidates for {rc}:{amount}: {got}"
    assert len(body["allocation_requests"]) == len(fits)
    roots = {snap.providers[rp].root for rp in fits}
    summaries: dict[str, Any] = {}
    for uuid, row in snap.providers.items():
        if row.root not in roots:
            continue
        summaries[uuid] = {
            "resources": {
                irc: {"capacity": rec.capacity, "used": usage.get((uuid, irc), 0)}
                for irc, rec in snap.inventory_of(uuid).items()
            },
            "traits": [],
            "parent_provider_uuid": row.parent,
            "root_provider_uuid": row.root,
        }
    assert body["provider_summaries"] == summaries, f"summaries for {rc}:{amount}"
