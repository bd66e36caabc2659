"""The resident index at scale: refresh and query latency on a bulk-loaded cloud.

Builds N compute hosts directly in the database (bulk inserts, no API: seconds instead
of minutes), each a root with VCPU/MEMORY_MB/DISK_GB inventory, a quarter partly used,
half with HW_CPU_X86_AVX2. Then, in-process (``berth.query.resident``), reports p50/p95
in ms of:

* ``full_load``: the first request (whole cloud loaded);
* ``refresh_one_allocation``: catching up after one committed allocation change
  (poll + re-read of that one tree + patch), without a search;
* ``idle_refresh``: the same when nothing changed (names check + poll);
* per query: resident ``answer`` + render + JSON (``engine``) and through the WSGI app
  (``wsgi``, httpx in-process: everything but the socket).

    .venv/bin/python bench/bench_resident.py --hosts 1000 10000 [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select, text

from berth.api.app import PlacementApp
from berth.api.candidate_params import parse
from berth.api.handlers.allocation_candidates import render
from berth.api.microversion import Version
from berth.db import changes, migrate, tables
from berth.db.engine import Store
from berth.query import resident
from berth.server import build_app

QUERIES = {
    "simple_limit10": "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20&limit=10",
    "simple_unlimited": "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20",
    "forbidden_trait_limit10": "resources=VCPU:2,MEMORY_MB:4096&required=!HW_CPU_X86_AVX2&limit=10",
    "forbidden_trait": "resources=VCPU:2,MEMORY_MB:4096&required=!HW_CPU_X86_AVX2",
}


def build_cloud(store: Store, hosts: int) -> list[int]:
    """Insert ``hosts`` compute hosts; returns their provider ids."""
    with store.write() as conn:
        for table in ("allocations", "resource_provider_traits", "inventories"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE resource_providers SET root_provider_id = NULL"))
        conn.execute(text("DELETE FROM resource_providers"))
        changes.touch_everything(conn)
    rc = tables.resource_classes
    now = tables.now()
    with store.write() as conn:
        class_ids = dict(conn.execute(select(rc.c.name, rc.c.id)).all())
        trait_id = conn.execute(
            select(tables.traits.c.id).where(tables.traits.c.name == "HW_CPU_X86_AVX2")
        ).scalar_one()
        rows = [
            {"uuid": str(uuid.uuid4()), "name": f"cn{i}", "generation": 1, "created_at": now}
            for i in range(hosts)
        ]
        conn.execute(insert(tables.resource_providers), rows)
        rp = tables.resource_providers
        ids = sorted(conn.execute(select(rp.c.id)).scalars())
        conn.execute(text("UPDATE resource_providers SET root_provider_id = id"))
        inv: list[dict[str, Any]] = []
        for pid in ids:
            for name, total in (("VCPU", 32), ("MEMORY_MB", 131072), ("DISK_GB", 2000)):
                inv.append(
                    {
                        "resource_provider_id": pid,
                        "resource_class_id": class_ids[name],
                        "total": total,
                        "reserved": 0,
                        "min_unit": 1,
                        "max_unit": total,
                        "step_size": 1,
                        "allocation_ratio": 1.0,
                        "created_at": now,
                    }
                )
        conn.execute(insert(tables.inventories), inv)
        conn.execute(
            insert(tables.resource_provider_traits),
            [{"resource_provider_id": pid, "trait_id": trait_id} for pid in ids[::2]],
        )
        conn.execute(
            insert(tables.allocations),
            [
                {
                    "resource_provider_id": pid,
                    "consumer_id": str(uuid.uuid4()),
                    "resource_class_id": class_ids["VCPU"],
                    "used": 30,
                    "created_at": now,
                }
                for pid in ids[::4]
            ],
        )
        changes.touch_everything(conn)
    return ids


def _allocate_one(store: Store, pid: int, vcpu_id: int) -> None:
    with store.write() as conn:
        conn.execute(
            insert(tables.allocations).values(
                resource_provider_id=pid,
                consumer_id=str(uuid.uuid4()),
                resource_class_id=vcpu_id,
                used=1,
                created_at=tables.now(),
            )
        )
        changes.touch(conn, (pid,))


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        "n": len(ordered),
    }


def _timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure(url: str, hosts: int, runs: int) -> dict[str, Any]:
    app: PlacementApp = build_app(url)
    store = app.state.store
    ids = build_cloud(store, hosts)
    index = resident.for_store(store)
    version = Version(1, 39)
    out: dict[str, Any] = {"hosts": hosts}
    out["full_load"] = _stats(_timed(index.warm, 1))
    with store.read() as conn:
        vcpu = conn.execute(
            select(tables.resource_classes.c.id).where(tables.resource_classes.c.name == "VCPU")
        ).scalar_one()
    refresh: list[float] = []
    for i in range(runs):
        _allocate_one(store, ids[(i * 7919) % len(ids)], vcpu)
        refresh.extend(_timed(index.warm, 1))
        assert index.last_refresh.kind == "usage", index.last_refresh
    out["refresh_one_allocation"] = _stats(refresh)
    out["idle_refresh"] = _stats(_timed(index.warm, runs))
    client = httpx.Client(
        transport=httpx.WSGITransport(app=app),
        base_url="http://berth.bench",
        headers={"X-Auth-Token": "admin", "OpenStack-API-Version": "placement 1.39"},
    )
    for name, query in QUERIES.items():
        request = parse(list(httpx.QueryParams(query).multi_items()), version)

        def engine(request: Any = request) -> None:
            answer = index.answer(request)
            assert answer.result is not None
            json.dumps(render(answer.result, request, version))

        def wsgi(query: str = query) -> None:
            assert client.get(f"/allocation_candidates?{query}").status_code == 200

        engine()
        size = len(client.get(f"/allocation_candidates?{query}").json()["allocation_requests"])
        out[name] = {
            "candidates": size,
            "engine": _stats(_timed(engine, runs)),
            "wsgi": _stats(_timed(wsgi, runs)),
        }
    client.close()
    store.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--url", default=None, help="database URL (default: a fresh SQLite)")
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for hosts in args.hosts:
            url = args.url or f"sqlite:///{Path(tmp) / f'bench{hosts}.sqlite'}"
            if args.url is None:
                migrate.upgrade(Store.from_url(url))
            results.append(measure(url, hosts, args.runs))
            print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    main()
