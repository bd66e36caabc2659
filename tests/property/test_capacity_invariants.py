"""Random sequences of writes through the HTTP API, with every invariant checked after each.

A hypothesis state machine creates providers (some nested), sets, replaces and deletes
inventories, PUTs/POSTs/DELETEs allocations for a handful of consumers (valid ones, ones
over capacity or breaking min/max/step, ones with stale generations), reshapes inventory
and allocations between a parent and its child, and creates and deletes custom resource
classes, on every engine. After every step (``property.checks``):

* the response is below 500, and it is a 2xx exactly when Placement's rules
  (``property.oracle``, predicted from the tables before the step) accept the request;
* an accepted write left exactly the predicted allocations, consumers, inventories and
  provider generations, and every (provider, class) it allocated against is within
  capacity; a refused write changed no row of any table;
* always: every allocation is backed by inventory, consumers exist exactly while they hold
  allocations, and a pair is over capacity only because its inventory shrank (Placement
  allows that) and only ever with usage that did not grow;
* the usages and allocations the API shows equal sums over the allocations table.

``BERTH_PROPERTY_EXAMPLES`` scales the run (default 50 sequences of up to 30 steps per engine);
``BERTH_PROPERTY_RANDOM=1`` explores new sequences instead of the derandomized default.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from berth.api.app import PlacementApp
from conftest import make_client
from property import checks, dbstate, oracle
from property.dbstate import Record, Snapshot
from property.oracle import ConsumerWrite, Outcome

EXAMPLES = int(os.environ.get("BERTH_PROPERTY_EXAMPLES", "50"))
STEPS = int(os.environ.get("BERTH_PROPERTY_STEPS", "30"))

PROVIDERS = tuple(str(uuid.UUID(int=0x1000 + i)) for i in range(5))
GHOST_PROVIDER = str(uuid.UUID(int=0x1FFF))
CONSUMERS = tuple(str(uuid.UUID(int=0x2000 + i)) for i in range(4))
CUSTOM = ("CUSTOM_GOLD", "CUSTOM_SILVER")
CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB", *CUSTOM)
OWNERS = (("proj-a", "user-a"), ("proj-a", "user-b"), ("proj-b", "user-c"))
USAGE_QUERIES: list[tuple[str, str | None]] = [
    ("proj-a", None),
    ("proj-a", "user-a"),
    ("proj-b", None),
    (oracle.INCOMPLETE, None),
]
TYPES = ("INSTANCE", "MIGRATION")
# Some not representable in binary (0.7, 1.1, 3.3): capacity must still be the same
# number on every engine as in Placement's formula.
RATIOS = (0.0, 0.5, 0.7, 1.0, 1.0, 1.1, 1.5, 2.0, 3.3, 16.0)

Version = tuple[int, int]


def _v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement {version}"}


def _parse(version: str) -> Version:
    major, minor = version.split(".")
    return int(major), int(minor)


@st.composite
def inventory_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """An inventory record body: mostly sane, sometimes reserving everything or more."""
    total = draw(st.integers(1, 40))
    body: dict[str, Any] = {"total": total}
    if draw(st.booleans()):
        body["reserved"] = draw(
            st.one_of(st.integers(0, total // 2), st.integers(total - 1, total + 2))
        )
        body["reserved"] = max(0, body["reserved"])
    if draw(st.booleans()):
        body["min_unit"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        body["max_unit"] = draw(st.integers(body.get("min_unit", 1), total + 8))
    if draw(st.booleans()):
        body["step_size"] = draw(st.sampled_from([1, 1, 2, 3]))
    if draw(st.booleans()):
        body["allocation_ratio"] = draw(st.sampled_from(RATIOS))
    return body


def _stale(current: int | None) -> st.SearchStrategy[int | None]:
    options: list[int | None] = [None, 0, 1, 2, 7]
    if current is not None:
        options += [current - 1, current + 1]
    return st.sampled_from([o for o in options if o != current])


class CapacityMachine(RuleBasedStateMachine):
    """One random history against one engine's database (emptied for each history)."""

    app: ClassVar[PlacementApp]
    tally: ClassVar[Counter[str]]

    def __init__(self) -> None:
        super().__init__()
        self.store = self.app.state.store
        dbstate.empty_database(self.store)
        self.client = make_client(self.app)
        self.snap = dbstate.read(self.store)

    def teardown(self) -> None:
        try:
            # Once per history, every view (the steps only re-read the ones they changed).
            snap = dbstate.read(self.store)
            checks.api_views(self.client, snap, snap.providers, CONSUMERS, USAGE_QUERIES)
        finally:
            self.client.close()

    # ------------------------------------------------------------------ the step

    def _step(
        self,
        label: str,
        expect: Callable[[Snapshot], Outcome],
        method: str,
        path: str,
        version: str,
        body: Any = None,
    ) -> None:
        before = self.snap
        expected = expect(before)
        kwargs: dict[str, Any] = {"headers": _v(version)}
        if body is not None:
            kwargs["json"] = body
        resp = self.client.request(method, path, **kwargs)
        after = dbstate.read(self.store)
        # Tallied by outcome and, for refusals, the oracle's reason (first word).
        self.tally[f"{label} -> {resp.status_code} {expected.why.split(' ')[0]}".strip()] += 1
        label = f"{label}: {method} {path} @{version} {body}"
        checks.outcome(label, resp, expected, before, after)
        changed = {
            rp
            for pair in set(before.inventories) | set(after.inventories)
            if before.inventories.get(pair) != after.inventories.get(pair)
            for rp in [pair[0]]
        }
        checks.database(label, before, after, changed)
        checks.api_views(self.client, after, *checks.changed_views(before, after))
        self.snap = after

    # ------------------------------------------------------------------ helpers

    def _providers(self) -> list[str]:
        return sorted(self.snap.providers)

    def _some_provider(self, data: st.DataObject) -> str:
        existing = self._providers()
        if existing and data.draw(st.integers(0, 9), label="pick existing") > 0:
            return data.draw(st.sampled_from(existing), label="provider")
        return data.draw(st.sampled_from([*PROVIDERS, GHOST_PROVIDER]), label="provider")

    def _generation(self, data: st.DataObject, rp: str) -> int:
        row = self.snap.providers.get(rp)
        current = row.generation if row else 0
        if data.draw(st.integers(0, 7), label="fresh generation?") > 0:
            return current
        return data.draw(st.sampled_from([current - 1, current + 1, current + 5]), label="stale")

    def _amount(self, data: st.DataObject, rec: Record | None) -> int:
        if rec is None or data.draw(st.integers(0, 3), label="wild amount?") == 0:
            return data.draw(st.integers(1, 48), label="amount")
        lowest = -(-rec.min_unit // rec.step_size) * rec.step_size
        return lowest + rec.step_size * data.draw(st.integers(0, 4), label="steps")

    def _resources(self, data: st.DataObject) -> dict[str, dict[str, int]]:
        """Mostly classes the providers offer, sometimes any class (even unknown ones)."""
        stocked = sorted({rp for rp, _rc in self.snap.inventories})
        pool = stocked if stocked and data.draw(st.integers(0, 4)) > 0 else self._providers()
        if not pool or data.draw(st.integers(0, 19), label="ghost provider?") == 0:
            pool = [*pool, GHOST_PROVIDER]
        rps = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))
        out: dict[str, dict[str, int]] = {}
        for rp in rps:
            offered = sorted(self.snap.inventory_of(rp))
            if not offered or data.draw(st.integers(0, 5), label="any class?") == 0:
                offered = sorted(set(CLASSES) & self.snap.classes)
                if data.draw(st.integers(0, 3), label="unknown class?") == 0:
                    offered = list(CLASSES)
            classes = data.draw(
                st.lists(st.sampled_from(offered), min_size=1, max_size=2, unique=True)
            )
            out[rp] = {
                rc: self._amount(data, self.snap.inventories.get((rp, rc))) for rc in classes
            }
        return out

    def _consumer_write(
        self, data: st.DataObject, consumer: str, version: Version, *, may_release: bool
    ) -> ConsumerWrite:
        row = self.snap.consumers.get(consumer)
        owner = data.draw(st.sampled_from(OWNERS), label="owner")
        if row is not None and (version < (1, 28) or data.draw(st.booleans(), label="same")):
            owner = (row.project_id, row.user_id)
        elif version < (1, 8):  # no owner in the body: Placement files it as "incomplete"
            owner = (oracle.INCOMPLETE, oracle.INCOMPLETE)
        release = may_release and data.draw(st.integers(0, 4), label="release?") == 0
        resources = {} if release else self._resources(data)
        generation = row.generation if row else None
        if data.draw(st.integers(0, 7), label="fresh consumer generation?") == 0:
            generation = data.draw(_stale(generation), label="stale consumer generation")
        ctype = data.draw(st.sampled_from(TYPES), label="type") if version >= (1, 38) else None
        return ConsumerWrite(consumer, resources, owner[0], owner[1], generation, ctype)

    @staticmethod
    def _entry(w: ConsumerWrite, version: Version) -> dict[str, Any]:
        if version < (1, 12):  # the list format, owner from 1.8
            listed: dict[str, Any] = {
                "allocations": [
                    {"resource_provider": {"uuid": rp}, "resources": dict(res)}
                    for rp, res in w.resources.items()
                ]
            }
            if version >= (1, 8):
                listed |= {"project_id": w.project_id, "user_id": w.user_id}
            return listed
        entry: dict[str, Any] = {
            "allocations": {rp: {"resources": dict(res)} for rp, res in w.resources.items()},
            "project_id": w.project_id,
            "user_id": w.user_id,
        }
        if version >= (1, 28):
            entry["consumer_generation"] = w.generation
        if version >= (1, 38):
            entry["consumer_type"] = w.consumer_type
        return entry

    # ------------------------------------------------------------------ setup

    @initialize()
    def seed(self) -> None:
        """A root with inventory and a child: the histories start somewhere useful."""
        self._step(
            "seed class", lambda b: oracle.create_class(b, CUSTOM[0]), "PUT",
            f"/resource_classes/{CUSTOM[0]}", "1.7",
        )  # fmt: skip
        root, child = PROVIDERS[0], PROVIDERS[1]
        self._step(
            "seed root", lambda b: oracle.create_provider(b, root, None), "POST",
            "/resource_providers", "1.14", {"uuid": root, "name": "rp-0"},
        )  # fmt: skip
        self._step(
            "seed child", lambda b: oracle.create_provider(b, child, root), "POST",
            "/resource_providers", "1.14",
            {"uuid": child, "name": "rp-1", "parent_provider_uuid": root},
        )  # fmt: skip
        seeded: dict[str, dict[str, dict[str, float]]] = {
            root: {
                "VCPU": {"total": 8, "allocation_ratio": 2.0},
                "MEMORY_MB": {"total": 64, "reserved": 8, "step_size": 8},
                CUSTOM[0]: {"total": 4},
            },
            child: {"VCPU": {"total": 4}, "DISK_GB": {"total": 100, "max_unit": 50}},
        }
        for rp, records in seeded.items():
            wanted = {rc: oracle.record_from(r) for rc, r in records.items()}
            self._step(
                "seed inventory",
                partial(oracle.put_inventories, rp=rp, generation=0, records=wanted,
                        version=(1, 39)),
                "PUT", f"/resource_providers/{rp}/inventories", "1.39",
                {"resource_provider_generation": 0, "inventories": records},
            )  # fmt: skip

    # ------------------------------------------------------------------ providers, classes

    @rule(data=st.data())
    def create_provider(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(PROVIDERS) - 1), label="provider index")
        uuid_ = PROVIDERS[index]
        parent = None
        if bool(self.snap.providers) and data.draw(st.booleans(), label="nested?"):
            parent = data.draw(st.sampled_from(self._providers()), label="parent")
        body: dict[str, Any] = {"uuid": uuid_, "name": f"rp-{index}"}
        if parent is not None:
            body["parent_provider_uuid"] = parent
        self._step(
            "create provider",
            lambda b: oracle.create_provider(b, uuid_, parent),
            "POST",
            "/resource_providers",
            "1.14",
            body,
        )

    @rule(data=st.data())
    def delete_provider(self, data: st.DataObject) -> None:
        rp = self._some_provider(data)
        self._step(
            "delete provider",
            lambda b: oracle.delete_provider(b, rp),
            "DELETE",
            f"/resource_providers/{rp}",
            "1.14",
        )

    @rule(name=st.sampled_from(CUSTOM))
    def create_class(self, name: str) -> None:
        self._step(
            "create class",
            lambda b: oracle.create_class(b, name),
            "PUT",
            f"/resource_classes/{name}",
            "1.7",
        )

    @rule(name=st.sampled_from(CUSTOM))
    def delete_class(self, name: str) -> None:
        self._step(
            "delete class",
            lambda b: oracle.delete_class(b, name),
            "DELETE",
            f"/resource_classes/{name}",
            "1.7",
        )

    # ------------------------------------------------------------------ inventories

    @rule(data=st.data(), version=st.sampled_from(["1.25", "1.39"]))
    def replace_inventories(self, data: st.DataObject, version: str) -> None:
        rp = self._some_provider(data)
        classes = data.draw(st.lists(st.sampled_from(CLASSES), max_size=3, unique=True))
        if data.draw(st.booleans(), label="keep current classes?"):
            classes = sorted(set(classes) | set(self.snap.inventory_of(rp)))
        records = {rc: data.draw(inventory_bodies(), label=f"record {rc}") for rc in classes}
        generation = self._generation(data, rp)
        self._step(
            "replace inventories",
            lambda b: oracle.put_inventories(
                b,
                rp,
                generation,
                {rc: oracle.record_from(r) for rc, r in records.items()},
                _parse(version),
            ),
            "PUT",
            f"/resource_providers/{rp}/inventories",
            version,
            {"resource_provider_generation": generation, "inventories": records},
        )

    @rule(data=st.data(), rc=st.sampled_from(CLASSES), version=st.sampled_from(["1.25", "1.39"]))
    def create_inventory(self, data: st.DataObject, rc: str, version: str) -> None:
        rp = self._some_provider(data)
        record = data.draw(inventory_bodies(), label="record")
        self._step(
            "create inventory",
            lambda b: oracle.post_inventory(b, rp, rc, oracle.record_from(record), _parse(version)),
            "POST",
            f"/resource_providers/{rp}/inventories",
            version,
            {"resource_class": rc, **record},
        )

    @rule(data=st.data(), version=st.sampled_from(["1.25", "1.39"]))
    def update_inventory(self, data: st.DataObject, version: str) -> None:
        rp = self._some_provider(data)
        offered = sorted(self.snap.inventory_of(rp)) or list(CLASSES)
        rc = data.draw(st.sampled_from(offered), label="class")
        record = data.draw(inventory_bodies(), label="record")
        generation = self._generation(data, rp)
        self._step(
            "update inventory",
            lambda b: oracle.put_inventory(
                b, rp, rc, generation, oracle.record_from(record), _parse(version)
            ),
            "PUT",
            f"/resource_providers/{rp}/inventories/{rc}",
            version,
            {"resource_provider_generation": generation, **record},
        )

    @rule(data=st.data())
    def delete_inventory(self, data: st.DataObject) -> None:
        rp = self._some_provider(data)
        offered = sorted(self.snap.inventory_of(rp)) or list(CLASSES)
        rc = data.draw(st.sampled_from(offered), label="class")
        self._step(
            "delete inventory",
            lambda b: oracle.delete_inventory(b, rp, rc),
            "DELETE",
            f"/resource_providers/{rp}/inventories/{rc}",
            "1.39",
        )

    @rule(data=st.data())
    def delete_inventories(self, data: st.DataObject) -> None:
        rp = self._some_provider(data)
        self._step(
            "delete inventories",
            lambda b: oracle.delete_inventories(b, rp),
            "DELETE",
            f"/resource_providers/{rp}/inventories",
            "1.39",
        )

    # ------------------------------------------------------------------ allocations

    @rule(
        data=st.data(),
        consumer=st.sampled_from(CONSUMERS),
        version=st.sampled_from(["1.0", "1.8", "1.12", "1.28", "1.36", "1.39"]),
    )
    def put_allocations(self, data: st.DataObject, consumer: str, version: str) -> None:
        v = _parse(version)
        w = self._consumer_write(data, consumer, v, may_release=v >= (1, 28))
        self._step(
            "put allocations",
            lambda b: oracle.allocate(b, [w], v),
            "PUT",
            f"/allocations/{consumer}",
            version,
            self._entry(w, v),
        )

    @rule(
        data=st.data(),
        consumers=st.lists(st.sampled_from(CONSUMERS), min_size=1, max_size=3, unique=True),
        version=st.sampled_from(["1.13", "1.28", "1.39"]),
    )
    def post_allocations(self, data: st.DataObject, consumers: list[str], version: str) -> None:
        v = _parse(version)
        writes = [self._consumer_write(data, c, v, may_release=True) for c in consumers]
        self._step(
            "post allocations",
            lambda b: oracle.allocate(b, writes, v),
            "POST",
            "/allocations",
            version,
            {w.consumer: self._entry(w, v) for w in writes},
        )

    @rule(consumer=st.sampled_from(CONSUMERS))
    def delete_allocations(self, consumer: str) -> None:
        self._step(
            "delete allocations",
            lambda b: oracle.delete_allocations(b, consumer),
            "DELETE",
            f"/allocations/{consumer}",
            "1.39",
        )

    # ------------------------------------------------------------------ reads

    @rule(rc=st.sampled_from(CLASSES), amount=st.integers(1, 24))
    def allocation_candidates(self, rc: str, amount: int) -> None:
        """A read: the candidates match the tables, and nothing changes."""
        checks.candidates_view(self.client, self.snap, rc, amount)
        self.tally[f"candidates {rc}"] += 1
        assert dbstate.read(self.store).raw == self.snap.raw

    @rule(
        data=st.data(),
        consumer=st.sampled_from(CONSUMERS),
        rc=st.sampled_from(CLASSES[:3]),
        amount=st.integers(1, 8),
    )
    def claim_candidate(self, data: st.DataObject, consumer: str, rc: str, amount: int) -> None:
        """What a scheduler does: ask for candidates, then claim one of them."""
        resp = self.client.get(f"/allocation_candidates?resources={rc}:{amount}")
        assert resp.status_code == 200, resp.text
        areqs = resp.json()["allocation_requests"]
        if not areqs:
            self.tally[f"claim {rc}: no candidate"] += 1
            return
        chosen = data.draw(st.sampled_from(areqs), label="candidate")
        row = self.snap.consumers.get(consumer)
        owner = (row.project_id, row.user_id) if row else OWNERS[0]
        w = ConsumerWrite(
            consumer,
            {rp: dict(a["resources"]) for rp, a in chosen["allocations"].items()},
            *owner,
            row.generation if row else None,
            data.draw(st.sampled_from(TYPES), label="type"),
        )
        self._step(
            "claim candidate",
            lambda b: oracle.allocate(b, [w], (1, 39)),
            "PUT",
            f"/allocations/{consumer}",
            "1.39",
            self._entry(w, (1, 39)),
        )

    # ------------------------------------------------------------------ reshaper

    def _nested_pairs(self) -> list[tuple[str, str]]:
        return sorted(
            (row.parent, uuid_)
            for uuid_, row in self.snap.providers.items()
            if row.parent is not None
        )

    @precondition(lambda self: bool(self._nested_pairs()))
    @rule(data=st.data(), version=st.sampled_from(["1.30", "1.39"]))
    def reshape_move(self, data: st.DataObject, version: str) -> None:
        """Move one class (inventory and allocations) from a parent to its child, or back."""
        v = _parse(version)
        parent, child = data.draw(st.sampled_from(self._nested_pairs()), label="pair")
        if data.draw(st.booleans(), label="upwards?"):
            parent, child = child, parent
        source, target = dict(self.snap.inventory_of(parent)), dict(self.snap.inventory_of(child))
        offered = sorted(source) or list(CLASSES)
        rc = data.draw(st.sampled_from(offered), label="class")
        moved = source.pop(rc, None)
        if moved is not None and data.draw(st.booleans(), label="resize?"):
            moved = oracle.record_from(data.draw(inventory_bodies(), label="resized"))
        if moved is not None:
            target[rc] = moved
        inventories = {
            parent: (self._generation(data, parent), source),
            child: (self._generation(data, child), target),
        }
        writes = []
        for consumer in sorted(
            {c for (c, rp, crc) in self.snap.allocations if (rp, crc) == (parent, rc)}
        ):
            held = self.snap.of_consumer(consumer)
            new = {rp: dict(res) for rp, res in held.items()}
            amount = new[parent].pop(rc)
            if not new[parent]:
                del new[parent]
            new.setdefault(child, {})
            new[child][rc] = new[child].get(rc, 0) + amount
            row = self.snap.consumers[consumer]
            generation: int | None = row.generation
            if data.draw(st.integers(0, 9), label="fresh consumer generation?") == 0:
                generation = data.draw(_stale(generation), label="stale")
            ctype = None
            if v >= (1, 38):
                ctype = row.consumer_type or data.draw(st.sampled_from(TYPES), label="type")
            writes.append(
                ConsumerWrite(consumer, new, row.project_id, row.user_id, generation, ctype)
            )
        self._reshape(inventories, writes, v, version)

    @precondition(lambda self: bool(self.snap.providers))
    @rule(data=st.data(), version=st.sampled_from(["1.30", "1.39"]))
    def reshape_random(self, data: st.DataObject, version: str) -> None:
        """A reshape of random providers to random inventories with random allocations."""
        v = _parse(version)
        rps = data.draw(
            st.lists(st.sampled_from(self._providers()), min_size=1, max_size=2, unique=True)
        )
        inventories = {}
        for rp in rps:
            classes = data.draw(st.lists(st.sampled_from(CLASSES), max_size=3, unique=True))
            records = {
                rc: oracle.record_from(data.draw(inventory_bodies(), label=rc)) for rc in classes
            }
            inventories[rp] = (self._generation(data, rp), records)
        consumers = data.draw(
            st.lists(st.sampled_from(CONSUMERS), max_size=2, unique=True), label="consumers"
        )
        writes = [self._consumer_write(data, c, v, may_release=True) for c in consumers]
        self._reshape(inventories, writes, v, version)

    def _reshape(
        self,
        inventories: dict[str, tuple[int, dict[str, Record]]],
        writes: list[ConsumerWrite],
        v: Version,
        version: str,
    ) -> None:
        body = {
            "inventories": {
                rp: {
                    "resource_provider_generation": generation,
                    "inventories": {
                        rc: {
                            "total": r.total,
                            "reserved": r.reserved,
                            "min_unit": r.min_unit,
                            "max_unit": r.max_unit,
                            "step_size": r.step_size,
                            "allocation_ratio": r.allocation_ratio,
                        }
                        for rc, r in records.items()
                    },
                }
                for rp, (generation, records) in inventories.items()
            },
            "allocations": {w.consumer: self._entry(w, v) for w in writes},
        }
        self._step(
            "reshape",
            lambda b: oracle.reshape(b, inventories, writes, v),
            "POST",
            "/reshaper",
            version,
            body,
        )


@pytest.mark.slow
def test_capacity_and_usage_invariants_hold_after_every_step(app: PlacementApp) -> None:
    tally: Counter[str] = Counter()
    machine = type("BoundCapacityMachine", (CapacityMachine,), {"app": app, "tally": tally})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            derandomize=os.environ.get("BERTH_PROPERTY_RANDOM") != "1",
            suppress_health_check=list(HealthCheck),
        ),
    )
    # What the histories did (pytest -s shows it): most writes should be accepted ones.
    print("\n".join(f"{n:5d}  {what}" for what, n in sorted(tally.items())))
