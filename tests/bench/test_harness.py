"""Smoke test of bench/placement_bench.py against berth in-process (no servers started).

The harness is the judge of "berth beats Placement": it must load what it says it loads,
count what it says it counts, and its audit must pass on a correct server. This runs the
whole per-system sequence (load, GET /, reads, engine floor, claims, audit, cleanup) on a
tiny cloud over the WSGI app, on every test engine.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from bench_claims import consistency_check
from bench_cloud import build_cloud
from bench_http import make_client, percentile
from placement_bench import BERTH, PLACEMENT, bench_system, parse_args, ratios

from berth.api.app import PlacementApp


class _AsyncOverWsgi(httpx.AsyncBaseTransport):
    """httpx has no async WSGI transport: run the sync one inside the event loop."""

    def __init__(self, app: PlacementApp) -> None:
        self._sync = httpx.WSGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        sync_request = httpx.Request(
            request.method, request.url, headers=request.headers, content=body
        )
        answer = self._sync.handle_request(sync_request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.read())


def test_cloud_is_reproducible_and_shaped() -> None:
    a, b = build_cloud(300, seed=7), build_cloud(300, seed=7)
    assert a == b
    assert build_cloud(300, seed=8).providers[0].uuid != a.providers[0].uuid
    assert len(a.trees) == 301  # compute nodes + the shared-storage pool
    numa = a.stats["numa_nodes"]
    assert 10 <= numa <= 60
    assert a.stats["providers"] == 300 + 1 + 4 * numa
    pool = a.trees[-1].providers[0]
    assert "MISC_SHARES_VIA_AGGREGATE" in pool.traits
    assert pool.aggregates == (a.sharing_aggregate,)
    shared = [p for p in a.providers if a.sharing_aggregate in p.aggregates and p is not pool]
    assert len(shared) == a.stats["shared_disk_nodes"]
    assert all("DISK_GB" not in p.inventories for p in shared)
    names = [p.name for p in a.providers]
    assert len(set(names)) == len(names)


def test_percentile_matches_linear_interpolation() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == pytest.approx(5.5)
    assert percentile(values, 95) == pytest.approx(9.55)
    assert percentile([3.0], 99) == 3.0


def test_only_loopback_targets() -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        make_client("http://example.com:8778", 1)


def test_whole_sequence_against_berth(app: PlacementApp, db_url: str) -> None:
    cloud = build_cloud(12, seed=3)
    args = parse_args(
        [
            "--nodes",
            "12",
            "--duration",
            "0.5",
            "--read-count",
            "3",
            "--read-seconds",
            "5",
            "--read-client",
            "httpx",
        ]
    )
    args.clients = [1, 2]
    args.loaders = 2
    args.berth_db_url = db_url
    transport = _AsyncOverWsgi(app)

    async def go() -> dict[str, Any]:
        async with make_client("http://127.0.0.1:1", 4, transport=transport) as client:
            result = await bench_system(BERTH, client, lambda: None, cloud, args)
            # A wrong ledger must be caught: the audit is not a rubber stamp.
            wrong: Counter[tuple[str, str]] = Counter({(cloud.providers[0].uuid, "VCPU"): 2})
            result["wrong_audit"] = await consistency_check(client, cloud, wrong, 2)
            return result

    result = asyncio.run(go())
    load = result["load"]
    assert load["errors"] == 0, load["error_examples"]
    assert load["providers"] == load["providers_expected"] == len(cloud.providers)
    assert result["root"]["count"] == 200
    for name, read in result["reads"].items():
        assert read["errors"] == 0, (name, read["error_examples"])
        assert read["count"] == 3
    assert result["reads"]["ac_simple_unlimited"]["answer"]["allocation_requests"] == 12
    floors = result["engine_floor"]
    assert set(floors) == {"ac_simple_limit10", "ac_simple_unlimited"}
    for name, floor in floors.items():
        assert "error" not in floor, floor
        assert floor["selection"]["count"] == 3
        assert floor["answer"]["allocation_requests"] == (10 if "limit10" in name else 12)
        assert floor["http_p50_ms"] == result["reads"][name]["p50_ms"]
    for clients in ("1", "2"):
        phase = result["claims"][clients]
        assert phase["successes"] > 0
        assert phase["other_errors"] == 0, phase["other"]
        assert phase["cleanup"]["residual_project_usage"] == {}
        assert phase["cleanup"]["errors"] == 0
    audit = result["consistency"]
    assert audit["providers_checked"] == len(cloud.providers)
    for key in ("overcommit", "usage_vs_allocations_mismatch", "inventory_vs_loaded_mismatch"):
        assert audit[key] == 0, audit["examples"]
    assert audit["usage_vs_acknowledged_claims_mismatch"] == 0, audit["examples"]
    assert result["wrong_audit"]["usage_vs_acknowledged_claims_mismatch"] == 1
    same = ratios(result, result)
    assert same["read_p50_placement_over_berth"]["ac_simple_limit10"] == 1.0
    assert same["claims_per_s_berth_over_placement"] == {"1": 1.0, "2": 1.0}
    assert set(same["answer_sizes"]["ac_simple_unlimited"]) == {PLACEMENT, BERTH}
