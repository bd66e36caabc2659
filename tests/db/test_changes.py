"""The change log records every provider a committed write touched, exactly then."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import insert, select

from berth.db import changes, tables
from berth.db.engine import Store


def _provider(client: httpx.Client, name: str, parent: str | None = None) -> str:
    body: dict[str, str] = {"name": name}
    if parent:
        body["parent_provider_uuid"] = parent
    resp = client.post("/resource_providers", json=body)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["uuid"])


def _id(store: Store, rp_uuid: str) -> int:
    with store.read() as conn:
        rp = tables.resource_providers
        return int(conn.execute(select(rp.c.id).where(rp.c.uuid == rp_uuid)).scalar_one())


def _poll(store: Store, feed: changes.ChangeFeed) -> changes.Changes:
    with store.read() as conn:
        return feed.poll(conn)


def test_each_kind_of_write_names_its_providers(client: httpx.Client, store: Store) -> None:
    feed = changes.ChangeFeed()
    with store.read() as conn:
        feed.reset(changes.head(conn))
    cn = _provider(client, "cn1")
    assert _poll(store, feed).provider_ids == {_id(store, cn)}
    assert _poll(store, feed).empty  # nothing new since

    inv = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}}
    assert client.put(f"/resource_providers/{cn}/inventories", json=inv).status_code == 200
    assert _poll(store, feed).provider_ids == {_id(store, cn)}

    consumer = str(uuid.uuid4())
    alloc = {
        "allocations": {cn: {"resources": {"VCPU": 2}}},
        "project_id": "p",
        "user_id": "u",
        "consumer_generation": None,
        "consumer_type": "INSTANCE",
    }
    # Claims change usage alone: logged as such, so readers need not re-read trees.
    assert client.put(f"/allocations/{consumer}", json=alloc).status_code == 204
    found = _poll(store, feed)
    assert (found.usage_ids, found.provider_ids) == ({_id(store, cn)}, set())

    # Releasing does not bump the provider generation, but usage changed: still logged.
    assert client.delete(f"/allocations/{consumer}").status_code == 204
    found = _poll(store, feed)
    assert (found.usage_ids, found.provider_ids) == ({_id(store, cn)}, set())

    # Aggregates at 1.1 change membership without a generation: still logged.
    old = {"OpenStack-API-Version": "placement 1.1"}
    agg = [str(uuid.uuid4())]
    assert client.put(f"/resource_providers/{cn}/aggregates", json=agg, headers=old).is_success
    assert _poll(store, feed).provider_ids == {_id(store, cn)}

    # Re-shaping a tree cannot be localized cheaply: readers reload everything.
    child = _provider(client, "numa0", parent=cn)
    _poll(store, feed)
    moved = {"name": "numa0", "parent_provider_uuid": None}
    assert client.put(f"/resource_providers/{child}", json=moved).status_code == 200
    assert _poll(store, feed).everything

    # Failed writes log nothing: the change rows roll back with them.
    stale = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4}}}
    assert client.put(f"/resource_providers/{cn}/inventories", json=stale).status_code == 409
    assert _poll(store, feed).empty


def test_feed_asks_again_for_ids_it_skipped(store: Store) -> None:
    """An id handed out earlier but committed later is still delivered (a 'gap')."""
    feed = changes.ChangeFeed()
    with store.read() as conn:
        feed.reset(changes.head(conn))
    now = tables.now()
    with store.write() as conn:
        first = conn.execute(
            insert(tables.changes).values(provider_id=1, created_at=now)
        ).inserted_primary_key
        second = conn.execute(
            insert(tables.changes).values(provider_id=2, created_at=now)
        ).inserted_primary_key
    assert first is not None and second is not None
    # Make the first id invisible as if its writer had not committed yet.
    with store.write() as conn:
        conn.execute(tables.changes.delete().where(tables.changes.c.id == first[0]))
    assert _poll(store, feed).provider_ids == {2}
    assert first[0] in feed.gaps
    with store.write() as conn:  # the slow writer commits
        conn.execute(insert(tables.changes).values(id=first[0], provider_id=1, created_at=now))
    assert _poll(store, feed).provider_ids == {1}
    assert not feed.gaps


def test_idle_feed_falls_back_to_full_reload(store: Store) -> None:
    feed = changes.ChangeFeed()
    feed.last_poll -= changes.RETENTION
    assert _poll(store, feed).everything


def test_touches_of_a_failed_write_never_reach_the_log(store: Store) -> None:
    """The touched set lives on a pooled connection: a failed write must not leave it for
    the next transaction on that connection to log."""
    with store.read() as conn:
        before = changes.head(conn)
    for _ in range(3):
        with pytest.raises(RuntimeError), store.write() as conn:
            changes.touch(conn, [42])
            raise RuntimeError("abandon the write")
        with store.write():
            pass
    with store.read() as conn:
        assert changes.head(conn) == before


def test_full_change_subsumes_usage_change(store: Store) -> None:
    """A provider touched both ways is reported once, as needing its tree re-read;
    usage-only touches are stored apart from full ones and come back as such."""
    feed = changes.ChangeFeed()
    with store.read() as conn:
        feed.reset(changes.head(conn))
    with store.write() as conn:
        changes.touch_usage(conn, [7, 8])
        changes.touch(conn, [8, 9])
    found = _poll(store, feed)
    assert (found.provider_ids, found.usage_ids) == ({8, 9}, {7})
    with store.write() as conn:
        changes.touch_usage(conn, [7])
    with store.write() as conn:
        changes.touch(conn, [7])
    found = _poll(store, feed)
    assert (found.provider_ids, found.usage_ids) == ({7}, set())
    with store.write() as conn:
        changes.touch_usage(conn, [5])
        changes.touch_everything(conn)
    assert _poll(store, feed).everything


def test_class_deletion_is_logged_and_readers_forget_the_name(
    client: httpx.Client, store: Store
) -> None:
    """Readers keep resource class names between requests: a deleted class must still be
    a 400 for the next request, and a class created meanwhile must be known at once."""
    feed = changes.ChangeFeed()
    with store.read() as conn:
        feed.reset(changes.head(conn))
    cn = _provider(client, "cn1")
    inv = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}}
    assert client.put(f"/resource_providers/{cn}/inventories", json=inv).status_code == 200
    query = "/allocation_candidates?resources=VCPU:1,CUSTOM_GONE:1"
    assert client.get(query).status_code == 400  # the reader's names are loaded now
    assert client.put("/resource_classes/CUSTOM_GONE").status_code == 201
    got = client.get(query)
    assert got.status_code == 200, got.text
    assert got.json()["allocation_requests"] == []
    _poll(store, feed)
    assert client.delete("/resource_classes/CUSTOM_GONE").status_code == 204
    assert _poll(store, feed).classes
    got = client.get(query)
    assert got.status_code == 400, got.text
    assert "CUSTOM_GONE" in got.text
