"""The scheduler benchmark's post-run check, read straight from the database.

After the run every provider and every constraint is checked against the tables the
claims wrote (not against what the server says about them):

* capacity: for every (provider, class), the sum of allocations is at most
  (total - reserved) x allocation_ratio;
* bookkeeping: the allocations of every consumer the benchmark was told was placed
  exist and match what the answer said, per provider and class, and nothing else was
  allocated (failed and all-or-nothing requests left nothing behind);
* groups: every anti-affinity group has its members on distinct hosts, every member is
  an acknowledged instance, and every acknowledged grouped instance is a member;
* NUMA/PCI: on every host, no host CPU is pinned (or held for emulator threads/isolated
  siblings) by two guests, no device is handed out twice, and no cell's huge pages of
  any size are used beyond its pool.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import sqlalchemy as sa

# The audit's counts that must all be 0 (the harness's exit code, the tables, the tests).
AUDIT_KEYS = (
    "overcommit",
    "allocations_vs_answers_mismatch",
    "group_violations",
    "pinned_cpu_conflicts",
    "device_conflicts",
    "huge_page_overcommit",
)

Ledger = dict[tuple[str, str, str], int]  # (consumer, provider uuid, class) -> amount


def driver_url(database_url: str) -> str:
    """berth's URL form (``postgresql://``, ``mysql://``) with the driver SQLAlchemy needs."""
    for plain, driver in (
        ("postgresql://", "postgresql+psycopg://"),
        ("mysql://", "mysql+pymysql://"),
    ):
        if database_url.startswith(plain):
            return driver + database_url[len(plain) :]
    return database_url


def analyze(database_url: str) -> None:
    """Refresh PostgreSQL's planner statistics. This machine's server runs with
    autovacuum off, so nothing would: a table loaded (or grown by a phase) after the last
    ANALYZE is planned as if empty, with sequential scans autovacuum would have avoided.
    The benchmark does what autovacuum's auto-analyze does, after the load and between
    phases."""
    if not database_url.startswith("postgresql"):
        return
    engine = sa.create_engine(driver_url(database_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("ANALYZE"))
    engine.dispose()


def _rows(conn: sa.Connection, sql: str) -> list[Any]:
    return list(conn.execute(sa.text(sql)))


def audit(
    database_url: str,
    ledger: Ledger,
    groups: dict[str, tuple[str, set[str]]],
) -> dict[str, Any]:
    """``groups``: group uuid -> (policy, acknowledged instance uuids)."""
    engine = sa.create_engine(driver_url(database_url))
    out: dict[str, Any] = {"examples": []}

    def note(text: str) -> None:
        if len(out["examples"]) < 10:
            out["examples"].append(text)

    with engine.connect() as conn:
        capacity = _rows(
            conn,
            "SELECT rp.uuid, rc.name, i.total, i.reserved, i.allocation_ratio, "
            "COALESCE(SUM(a.used), 0) FROM inventories i "
            "JOIN resource_providers rp ON rp.id = i.resource_provider_id "
            "JOIN resource_classes rc ON rc.id = i.resource_class_id "
            "LEFT JOIN allocations a ON a.resource_provider_id = i.resource_provider_id "
            "AND a.resource_class_id = i.resource_class_id "
            "GROUP BY rp.uuid, rc.name, i.total, i.reserved, i.allocation_ratio",
        )
        over = 0
        for rp, rc, total, reserved, ratio, used in capacity:
            if used > int((total - reserved) * ratio):
                over += 1
                note(f"overcommit {rp} {rc}: {used} > ({total}-{reserved})x{ratio}")
        out["inventories_checked"] = len(capacity)
        out["providers_checked"] = len({r[0] for r in capacity})
        out["overcommit"] = over
        allocated = _rows(
            conn,
            "SELECT a.consumer_id, rp.uuid, rc.name, a.used FROM allocations a "
            "JOIN resource_providers rp ON rp.id = a.resource_provider_id "
            "JOIN resource_classes rc ON rc.id = a.resource_class_id",
        )
        stored: Ledger = Counter()
        for consumer, rp, rc, used in allocated:
            stored[(consumer, rp, rc)] += used
        mismatch = 0
        for key in set(stored) | set(ledger):
            if stored.get(key, 0) != ledger.get(key, 0):
                mismatch += 1
                note(
                    f"allocation {key}: stored {stored.get(key, 0)}, answered {ledger.get(key, 0)}"
                )
        out["allocations_vs_answers_mismatch"] = mismatch
        out["consumers_allocated"] = len({k[0] for k in stored})
        members = _rows(
            conn,
            "SELECT g.uuid, g.policy, g.max_server_per_host, m.consumer_uuid, "
            "m.root_provider_id FROM berth_server_group_members m "
            "JOIN berth_server_groups g ON g.id = m.group_id",
        )
        by_group: dict[str, list[tuple[str, int | None]]] = defaultdict(list)
        limits: dict[str, int] = {}
        for guuid, _policy, per_host, consumer, root in members:
            by_group[guuid].append((consumer, root))
            limits[guuid] = per_host or 1
        broken = 0
        for guuid, (policy, acked) in groups.items():
            got = by_group.get(guuid, [])
            if {c for c, _ in got} != acked:
                broken += 1
                note(f"group {guuid}: members {len(got)} vs acknowledged {len(acked)}")
            per_host = Counter(root for _, root in got)
            if policy == "anti-affinity" and per_host and max(per_host.values()) > limits[guuid]:
                broken += 1
                note(f"group {guuid}: {max(per_host.values())} members on one host")
            if policy == "affinity" and len(per_host) > 1:
                broken += 1
                note(f"group {guuid}: members on {len(per_host)} hosts")
        out["groups_checked"] = len(groups)
        out["group_violations"] = broken
        out.update(_numa(conn, note))
    engine.dispose()
    return out


def _numa(conn: sa.Connection, note: Any) -> dict[str, Any]:
    topologies = {
        root: json.loads(doc)["topology"]
        for root, doc in _rows(conn, "SELECT root_provider_id, document FROM berth_host_topologies")
    }
    pools: dict[tuple[int, int, int], int] = {}
    for root, topo in topologies.items():
        for cell in topo["cells"]:
            for pool in cell.get("pages", []):
                usable = int(pool["total"]) - int(pool.get("reserved", 0))
                pools[(root, int(cell["id"]), int(pool["size_kb"]))] = usable
    cpus: Counter[tuple[int, int]] = Counter()
    devices: Counter[tuple[int, str]] = Counter()
    pages: Counter[tuple[int, int, int]] = Counter()
    rows = _rows(conn, "SELECT root_provider_id, document FROM berth_guest_assignments")
    for root, doc in rows:
        a = json.loads(doc)["assignment"]
        held: set[int] = set(a.get("emulator_cpus", []))
        for cell in a["cells"]:
            held |= {int(h) for _, h in cell.get("pinning", [])}
            held |= set(cell.get("reserved_cpus", []))
            if int(cell.get("page_size_kb", 4)) != 4:
                pages[(root, int(cell["host_cell"]), int(cell["page_size_kb"]))] += int(
                    cell.get("pages", 0)
                )
        for cpu in held:
            cpus[(root, cpu)] += 1
        for _, address in a.get("devices", []):
            devices[(root, address)] += 1
    cpu_clash = sum(1 for n in cpus.values() if n > 1)
    device_clash = sum(1 for n in devices.values() if n > 1)
    page_over = 0
    for key, used in pages.items():
        if used > pools.get(key, 0):
            page_over += 1
            note(f"huge pages {key}: {used} > {pools.get(key, 0)}")
    if cpu_clash:
        note(f"{cpu_clash} host CPUs pinned by two guests")
    if device_clash:
        note(f"{device_clash} devices given to two guests")
    return {
        "assignments_checked": len(rows),
        "pinned_cpu_conflicts": cpu_clash,
        "device_conflicts": device_clash,
        "huge_page_overcommit": page_over,
    }
