"""The expected outcome of every write, predicted from the snapshot taken before it.

Each function takes the database as it was (``dbstate.Snapshot``) and one request, and
says whether Placement accepts it and, if so, what the tables hold afterwards and which
provider generations move. The rules are Placement's, as its gabbits and api-ref state
them: allocations are checked against capacity, min/max/step and generations, inventory
may shrink below what is already allocated (only removing an in-use class is refused),
a consumer left without allocations is forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from property.dbstate import ConsumerRow, Pair, ProviderRow, Record, Snapshot

INCOMPLETE = "00000000-0000-0000-0000-000000000000"
MAX_INT = 2147483647

PLUS1 = "plus one"
INCREASED = "increased"


@dataclass(frozen=True, slots=True)
class ConsumerWrite:
    """One consumer's complete new allocation set in a PUT, POST or reshape."""

    consumer: str
    resources: Mapping[str, Mapping[str, int]]
    project_id: str
    user_id: str
    generation: int | None = None
    consumer_type: str | None = None

    @property
    def pairs(self) -> list[tuple[str, str, int]]:
        return [(rp, rc, n) for rp, res in self.resources.items() for rc, n in res.items()]


@dataclass(slots=True)
class Outcome:
    """Accepted or not (and why not); if accepted, the expected tables and generations.

    ``bumped`` names the providers whose generation must move (``PLUS1`` exactly one, or
    just ``INCREASED``); every other surviving provider must keep its generation.
    ``checked`` are the (provider, class) pairs the write allocated against: each must be
    within capacity afterwards.
    """

    accepted: bool
    why: str = ""
    state: Snapshot | None = None
    bumped: dict[str, str] = field(default_factory=dict)
    checked: set[Pair] = field(default_factory=set)


def refused(why: str) -> Outcome:
    return Outcome(False, why)


def record_from(body: Mapping[str, float]) -> Record:
    """The stored record for a request body (omitted fields take Placement's defaults)."""
    return Record(
        total=int(body["total"]),
        reserved=int(body.get("reserved", 0)),
        min_unit=int(body.get("min_unit", 1)),
        max_unit=int(body.get("max_unit", MAX_INT)),
        step_size=int(body.get("step_size", 1)),
        allocation_ratio=float(body.get("allocation_ratio", 1.0)),
    )


def _bad_reserved(rec: Record, version: tuple[int, int]) -> bool:
    return rec.reserved > rec.total or (rec.reserved == rec.total and version < (1, 26))


def _next(before: Snapshot) -> Snapshot:
    """A copy to apply the write to (the raw dump is not predicted)."""
    return Snapshot(
        providers=dict(before.providers),
        inventories=dict(before.inventories),
        allocations=dict(before.allocations),
        consumers=dict(before.consumers),
        classes=before.classes,
    )


def _in_use(before: Snapshot, rp: str, classes: Iterable[str]) -> list[str]:
    usage = before.usage()
    return sorted(rc for rc in classes if usage.get((rp, rc), 0) > 0)


# ---------------------------------------------------------------- allocations


def _consumer_checks(before: Snapshot, w: ConsumerWrite, check_generation: bool) -> str | None:
    for rp, rc, _n in w.pairs:
        if rp not in before.providers:
            return f"provider {rp} does not exist"
        if rc not in before.classes:
            return f"class {rc} does not exist"
    if check_generation:
        current = before.consumers.get(w.consumer)
        expected = None if current is None else current.generation
        if w.generation != expected:
            return f"consumer {w.consumer} generation {w.generation}, current {expected}"
    return None


def _replace_allocations(
    before: Snapshot,
    state: Snapshot,
    writes: list[ConsumerWrite],
    inventories: Mapping[Pair, Record],
) -> str | None:
    """Apply the consumers' new sets to ``state``; the refusal reason, if any."""
    batch = {w.consumer for w in writes}
    for key in [k for k in state.allocations if k[0] in batch]:
        del state.allocations[key]
    for w in writes:
        for rp, rc, n in w.pairs:
            state.allocations[(w.consumer, rp, rc)] = n
    usage = state.usage()
    for w in writes:
        for rp, rc, n in w.pairs:
            rec = inventories.get((rp, rc))
            if rec is None:
                return f"no {rc} inventory on {rp}"
            if not rec.admits(n):
                return f"{rc}:{n} on {rp} violates min/max/step of {rec}"
            if usage[(rp, rc)] > rec.capacity:
                return f"{rc} on {rp}: usage {usage[(rp, rc)]} > capacity {rec.capacity}"
    for w in writes:
        old = before.consumers.get(w.consumer)
        if not w.resources:
            state.consumers.pop(w.consumer, None)
            continue
        if old is None:
            state.consumers[w.consumer] = ConsumerRow(w.project_id, w.user_id, 1, w.consumer_type)
        else:
            state.consumers[w.consumer] = ConsumerRow(
                w.project_id,
                w.user_id,
                old.generation + 1,
                w.consumer_type if w.consumer_type is not None else old.consumer_type,
            )
    return None


def allocate(before: Snapshot, writes: list[ConsumerWrite], version: tuple[int, int]) -> Outcome:
    """PUT /allocations/{c} (one write) or POST /allocations (several)."""
    for w in writes:
        problem = _consumer_checks(before, w, version >= (1, 28))
        if problem:
            return refused(problem)
    state = _next(before)
    problem = _replace_allocations(before, state, writes, before.inventories)
    if problem:
        return refused(problem)
    receiving = {rp for w in writes for rp, _rc, _n in w.pairs}
    checked = {(rp, rc) for w in writes for rp, rc, _n in w.pairs}
    return Outcome(True, state=state, bumped=dict.fromkeys(receiving, PLUS1), checked=checked)


def delete_allocations(before: Snapshot, consumer: str) -> Outcome:
    if not before.of_consumer(consumer):
        return refused(f"consumer {consumer} holds nothing")
    state = _next(before)
    for key in [k for k in state.allocations if k[0] == consumer]:
        del state.allocations[key]
    state.consumers.pop(consumer, None)
    return Outcome(True, state=state)


# ---------------------------------------------------------------- inventories


def _set_inventory(state: Snapshot, rp: str, records: Mapping[str, Record]) -> None:
    for key in [k for k in state.inventories if k[0] == rp]:
        del state.inventories[key]
    for rc, rec in records.items():
        state.inventories[(rp, rc)] = rec


def put_inventories(
    before: Snapshot,
    rp: str,
    generation: int,
    records: Mapping[str, Record],
    version: tuple[int, int],
) -> Outcome:
    if rp not in before.providers:
        return refused("no such provider")
    for rc, rec in records.items():
        if _bad_reserved(rec, version):
            return refused(f"reserved {rec.reserved} vs total {rec.total} for {rc}")
    if generation != before.providers[rp].generation:
        return refused("stale provider generation")
    unknown = [rc for rc in records if rc not in before.classes]
    if unknown:
        return refused(f"unknown classes {unknown}")
    removed = set(before.inventory_of(rp)) - set(records)
    if _in_use(before, rp, removed):
        return refused(f"removing in-use {_in_use(before, rp, removed)}")
    state = _next(before)
    _set_inventory(state, rp, records)
    return Outcome(True, state=state, bumped={rp: PLUS1})


def post_inventory(
    before: Snapshot, rp: str, rc: str, rec: Record, version: tuple[int, int]
) -> Outcome:
    if rp not in before.providers:
        return refused("no such provider")
    if _bad_reserved(rec, version):
        return refused("bad reserved")
    if rc not in before.classes:
        return refused("unknown class")
    if (rp, rc) in before.inventories:
        return refused("inventory exists")
    state = _next(before)
    state.inventories[(rp, rc)] = rec
    return Outcome(True, state=state, bumped={rp: PLUS1})


def put_inventory(
    before: Snapshot, rp: str, rc: str, generation: int, rec: Record, version: tuple[int, int]
) -> Outcome:
    if rp not in before.providers:
        return refused("no such provider")
    if _bad_reserved(rec, version):
        return refused("bad reserved")
    if generation != before.providers[rp].generation:
        return refused("stale provider generation")
    if (rp, rc) not in before.inventories:
        return refused("no such inventory")
    state = _next(before)
    state.inventories[(rp, rc)] = rec
    return Outcome(True, state=state, bumped={rp: PLUS1})


def delete_inventory(before: Snapshot, rp: str, rc: str) -> Outcome:
    if (rp, rc) not in before.inventories:
        return refused("no such inventory")
    if _in_use(before, rp, [rc]):
        return refused("in use")
    state = _next(before)
    del state.inventories[(rp, rc)]
    return Outcome(True, state=state, bumped={rp: PLUS1})


def delete_inventories(before: Snapshot, rp: str) -> Outcome:
    if rp not in before.providers:
        return refused("no such provider")
    if _in_use(before, rp, before.inventory_of(rp)):
        return refused("in use")
    state = _next(before)
    _set_inventory(state, rp, {})
    return Outcome(True, state=state, bumped={rp: PLUS1})


# ---------------------------------------------------------------- reshaper


def reshape(
    before: Snapshot,
    inventories: Mapping[str, tuple[int, Mapping[str, Record]]],
    writes: list[ConsumerWrite],
    version: tuple[int, int],
) -> Outcome:
    """POST /reshaper: the listed providers' whole new inventories plus moved allocations."""
    for rp, (generation, records) in inventories.items():
        for rc, rec in records.items():
            if _bad_reserved(rec, (1, 26)):
                return refused(f"reserved {rec.reserved} vs total {rec.total} for {rc} on {rp}")
        if rp not in before.providers:
            return refused(f"provider {rp} does not exist")
        if generation != before.providers[rp].generation:
            return refused(f"stale generation for {rp}")
        unknown = [rc for rc in records if rc not in before.classes]
        if unknown:
            return refused(f"unknown classes {unknown}")
    for w in writes:
        problem = _consumer_checks(before, w, True)
        if problem:
            return refused(problem)
    state = _next(before)
    for rp, (_g, records) in inventories.items():
        _set_inventory(state, rp, records)
    problem = _replace_allocations(before, state, writes, state.inventories)
    if problem:
        return refused(problem)
    usage = state.usage()
    for rp in inventories:
        for (urp, rc), used in usage.items():
            if urp == rp and used > 0 and (rp, rc) not in state.inventories:
                return refused(f"{rc} still allocated on {rp} but dropped from its inventory")
    bumped = dict.fromkeys(inventories, INCREASED)
    for w in writes:
        for rp, _rc, _n in w.pairs:
            bumped.setdefault(rp, PLUS1)
    checked = {(rp, rc) for w in writes for rp, rc, _n in w.pairs}
    return Outcome(True, state=state, bumped=bumped, checked=checked)


# ---------------------------------------------------------------- classes, providers


def create_class(before: Snapshot, name: str) -> Outcome:
    state = _next(before)
    state.classes = before.classes | {name}
    return Outcome(True, state=state)


def delete_class(before: Snapshot, name: str) -> Outcome:
    if name not in before.classes:
        return refused("no such class")
    if any(rc == name for _rp, rc in before.inventories) or any(
        rc == name for _c, _rp, rc in before.allocations
    ):
        return refused("class in use")
    state = _next(before)
    state.classes = before.classes - {name}
    return Outcome(True, state=state)


def create_provider(before: Snapshot, uuid: str, parent: str | None) -> Outcome:
    if uuid in before.providers:
        return refused("exists")
    if parent is not None and parent not in before.providers:
        return refused("no such parent")
    state = _next(before)
    root = uuid if parent is None else before.providers[parent].root
    state.providers[uuid] = ProviderRow(-1, 0, parent, root)
    return Outcome(True, state=state)


def delete_provider(before: Snapshot, uuid: str) -> Outcome:
    if uuid not in before.providers:
        return refused("no such provider")
    if before.on_provider(uuid):
        return refused("provider has allocations")
    if before.children(uuid):
        return refused("provider has children")
    state = _next(before)
    del state.providers[uuid]
    _set_inventory(state, uuid, {})
    return Outcome(True, state=state)
