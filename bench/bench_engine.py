"""The floor under berth's GET /allocation_candidates: the engine called in-process.

Same database, same query as the ``ac_simple_limit10`` read, but no HTTP, no WSGI, no JSON:
``berth.db.snapshot.take`` (one consistent read of the trees that can serve the request)
followed by ``berth.query.candidates.find``. The gap between this and the HTTP p50 is what
the API layer costs; the split between snapshot and find says where the engine's time goes.
"""

from __future__ import annotations

import time
from typing import Any

from bench_http import JsonObject, latency_summary

SIMPLE_RESOURCES = {"VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 20}


def berth_inprocess_selection(
    database_url: str, limit: int = 10, count: int = 50, seconds: float = 15.0
) -> JsonObject:
    """Time snapshot + find for the simple query against berth's own database.

    Imports berth lazily so the benchmark still runs (and reports why) when the engine's
    entry points are missing or have changed.
    """
    try:
        from berth.db.engine import Store
        from berth.db.snapshot import take
        from berth.model.candidates import CandidateRequest, RequestGroup
        from berth.model.cloud import SnapshotScope
        from berth.query.candidates import find
    except ImportError as exc:
        return {"error": f"berth engine entry points not importable: {exc}"}
    store: Any = Store.from_url(database_url)
    try:
        request = CandidateRequest(
            groups=(RequestGroup(suffix="", resources=dict(SIMPLE_RESOURCES)),), limit=limit
        )
        scope = SnapshotScope(classes=frozenset(SIMPLE_RESOURCES))
        snapshot_ms: list[float] = []
        find_ms: list[float] = []
        total_ms: list[float] = []
        found = 0
        providers = 0
        take(store, scope)  # warm-up: connection pool, statement caches
        deadline = time.perf_counter() + seconds
        while len(total_ms) < count and time.perf_counter() < deadline:
            t0 = time.perf_counter()
            cloud = take(store, scope)
            t1 = time.perf_counter()
            result = find(cloud, request)
            t2 = time.perf_counter()
            snapshot_ms.append((t1 - t0) * 1000.0)
            find_ms.append((t2 - t1) * 1000.0)
            total_ms.append((t2 - t0) * 1000.0)
            found = len(result.allocation_requests)
            providers = len(cloud.nodes)
        return {
            "entry_points": "berth.db.snapshot.take + berth.query.candidates.find",
            "query": "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20" + f"&limit={limit}",
            "snapshot_plus_find": latency_summary(total_ms),
            "snapshot": latency_summary(snapshot_ms),
            "find": latency_summary(find_ms),
            "allocation_requests": found,
            "providers_in_snapshot": providers,
        }
    except Exception as exc:  # report, never abort the whole benchmark run
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        store.dispose()
