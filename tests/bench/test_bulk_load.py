"""The benchmark's two ways of loading berth build the same cloud and report alike."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from bench_cloud import build_cloud
from bench_http import make_client
from bench_load import load_cloud, load_cloud_bulk, tree_batches

from bench.test_harness import _AsyncOverWsgi
from berth.api.app import PlacementApp
from berth.api.state import ApiConfig
from berth.server import build_app


def _everything(client: httpx.Client, uuids: list[str]) -> list[Any]:
    out = []
    for rp in uuids:
        base = f"/resource_providers/{rp}"
        shown = client.get(base).json()
        out.append(
            (
                shown["name"],
                shown["parent_provider_uuid"],
                shown["root_provider_uuid"],
                client.get(f"{base}/inventories").json()["inventories"],
                sorted(client.get(f"{base}/traits").json()["traits"]),
                sorted(client.get(f"{base}/aggregates").json()["aggregates"]),
            )
        )
    return out


def _load(app: PlacementApp, method: str) -> dict[str, Any]:
    cloud = build_cloud(15, seed=5)

    async def go() -> dict[str, Any]:
        async with make_client("http://127.0.0.1:1", 3, transport=_AsyncOverWsgi(app)) as c:
            if method == "bulk":
                return await load_cloud_bulk(c, cloud, 7, 2)
            return await load_cloud(c, cloud, 2, "per-call")

    return asyncio.run(go())


def test_bulk_and_per_call_load_the_same_cloud(app: PlacementApp, tmp_path: Any) -> None:
    cloud = build_cloud(15, seed=5)
    batches = tree_batches(cloud, 7)
    assert [t for b in batches for t in b] == list(cloud.trees)
    assert all(sum(len(t.providers) for t in b) <= 7 or len(b) == 1 for b in batches)
    other = build_app(f"sqlite:///{tmp_path / 'per-call.sqlite'}", ApiConfig())
    try:
        bulk = _load(app, "bulk")
        per_call = _load(other, "per-call")
        uuids = [p.uuid for p in cloud.providers]
        with (
            httpx.Client(
                transport=httpx.WSGITransport(app=app),
                base_url="http://b",
                headers={"X-Auth-Token": "admin", "OpenStack-API-Version": "placement 1.39"},
            ) as a,
            httpx.Client(
                transport=httpx.WSGITransport(app=other),
                base_url="http://b",
                headers={"X-Auth-Token": "admin", "OpenStack-API-Version": "placement 1.39"},
            ) as b,
        ):
            assert _everything(a, uuids) == _everything(b, uuids)
    finally:
        other.state.store.dispose()
    assert (bulk["method"], per_call["method"]) == ("bulk", "per-call")
    assert set(bulk) == set(per_call) | {"batch"}
    for report in (bulk, per_call):
        assert report["errors"] == 0, report["error_examples"]
        assert report["providers"] == report["providers_expected"] == len(cloud.providers)
        assert report["trees"] == report["trees_expected"] == len(cloud.trees)
    assert bulk["requests"] == len(cloud.custom_traits) + len(batches)
