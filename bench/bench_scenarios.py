"""The benchmark's read scenarios, in-process, on the benchmark cloud at any size.

A development yardstick between full side-by-side runs: it loads the same seeded cloud
``placement_bench`` uses (``bench_cloud``) straight through berth's db layer (no HTTP: the
bulk load of ``berth.db.bulk``, a 100,000-node cloud in about a minute), then sends every
read scenario of ``bench_reads`` through the WSGI app in-process (httpx's WSGI transport:
everything but the socket) and prints one JSON document of p50/p95 per scenario and answer sizes.

    .venv/bin/python bench/bench_scenarios.py --nodes 10000 [--url postgresql://...] \
        [--runs 20] [--only ac_simple_unlimited]
    .venv/bin/python bench/bench_scenarios.py --nodes 10000 --url URL --load-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_cloud import CloudSpec, build_cloud
from bench_load import tree_batches
from bench_reads import read_scenarios

from berth.db import bulk, migrate, traits
from berth.db.engine import Store
from berth.model.bulk import NewProvider
from berth.model.inventory import Inventory
from berth.server import build_app

# Providers per transaction: berth's bulk-load default (POST /berth/v1/provider_trees).
BATCH_PROVIDERS = 1000


def load_direct(store: Store, cloud: CloudSpec) -> float:
    """Write the cloud through the db layer's bulk load (``berth.db.bulk``), whole trees
    in transactions of about ``BATCH_PROVIDERS`` providers."""
    started = time.perf_counter()
    with store.write() as conn:
        for trait in cloud.custom_traits:
            traits.ensure(conn, trait)
    for trees in tree_batches(cloud, BATCH_PROVIDERS):
        batch = [
            NewProvider(
                uuid=p.uuid,
                name=p.name,
                parent_uuid=p.parent_uuid,
                inventories={
                    rc: Inventory(
                        total=inv.total,
                        reserved=inv.reserved,
                        min_unit=inv.min_unit,
                        max_unit=inv.total,
                        step_size=inv.step_size,
                        allocation_ratio=inv.allocation_ratio,
                    )
                    for rc, inv in p.inventories.items()
                },
                traits=p.traits,
                aggregates=p.aggregates,
            )
            for tree in trees
            for p in tree.providers
        ]
        with store.write() as conn:
            bulk.load(conn, batch)
    return time.perf_counter() - started


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "n": len(ordered),
    }


def measure(url: str, nodes: int, runs: int, only: set[str], load_only: bool) -> dict[str, Any]:
    cloud = build_cloud(nodes)
    app = build_app(url)
    out: dict[str, Any] = {"nodes": nodes, "providers": cloud.stats["providers"]}
    out["load_s"] = round(load_direct(app.state.store, cloud), 1)
    if load_only:
        app.state.store.dispose()
        return out
    client = httpx.Client(
        transport=httpx.WSGITransport(app=app),
        base_url="http://berth.bench",
        headers={"X-Auth-Token": "admin", "OpenStack-API-Version": "placement 1.39"},
        timeout=600,
    )
    started = time.perf_counter()
    assert client.get("/allocation_candidates?resources=VCPU:1&limit=1").status_code == 200
    out["warm_s"] = round(time.perf_counter() - started, 2)
    for scenario in read_scenarios(cloud, runs, 600.0):
        if only and scenario.name not in only:
            continue
        first = client.get(scenario.url)
        body = first.json()
        size = {k: len(v) for k, v in body.items() if isinstance(v, list | dict)}
        samples: list[float] = []
        for _ in range(max(3, scenario.max_count)):
            t0 = time.perf_counter()
            response = client.get(scenario.url)
            samples.append((time.perf_counter() - t0) * 1000.0)
            assert response.status_code == 200, response.text
        out[scenario.name] = {
            **_stats(samples),
            "status": first.status_code,
            "bytes": len(first.content),
            **size,
        }
        print(f"  {scenario.name:22s} {out[scenario.name]}", flush=True)
    client.close()
    app.state.store.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[10000])
    parser.add_argument("--url", default=None, help="database URL (default: a fresh SQLite)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", action="append", default=[], help="scenario name(s)")
    parser.add_argument(
        "--load-only", action="store_true", help="load the cloud into --url (empty) and stop"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for nodes in args.nodes:
            url = args.url or f"sqlite:///{Path(tmp) / f'scenarios{nodes}.sqlite'}"
            if args.url is None:
                migrate.upgrade(Store.from_url(url))
            result = measure(url, nodes, args.runs, set(args.only), args.load_only)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
