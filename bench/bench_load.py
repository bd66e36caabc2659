"""Load of the benchmark cloud through the REST API, per call or in bulk.

Per call (``load_cloud``), as a deployment's agents would and the only way Placement
offers: each tree (a compute node and its NUMA/NIC children) is set up by one loader:
POST the provider, PUT its inventories, traits and aggregates, passing the generation
each answer returns. In bulk (``load_cloud_bulk``, berth only), as an operator onboarding
a region would: whole trees packed into batches of about ``batch`` providers, each batch
one POST /berth/v1/provider_trees. A bounded pool of loaders works through the trees (or
batches); the rate is reported as trees, providers and HTTP requests per second, with
``method`` saying which way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from bench_cloud import CloudSpec, ProviderSpec, TreeSpec
from bench_http import JsonObject, Outcomes


class LoadFailed(RuntimeError):
    """A provider could not be set up (the rest of its tree is skipped)."""


@dataclass
class _Counters:
    requests: int = 0
    trees_done: int = 0
    providers_done: int = 0
    outcomes: Outcomes = field(default_factory=Outcomes)


async def _send(
    client: httpx.AsyncClient,
    counters: _Counters,
    method: str,
    url: str,
    body: JsonObject,
    what: str,
) -> httpx.Response:
    counters.requests += 1
    try:
        response = await client.request(method, url, json=body)
    except httpx.HTTPError as exc:
        counters.outcomes.record_exception(exc, what)
        raise LoadFailed(what) from exc
    counters.outcomes.record(response, what)
    if response.status_code >= 300:
        raise LoadFailed(f"{what}: {response.status_code}")
    return response


async def _load_provider(client: httpx.AsyncClient, c: _Counters, p: ProviderSpec) -> None:
    body: JsonObject = {"name": p.name, "uuid": p.uuid}
    if p.parent_uuid is not None:
        body["parent_provider_uuid"] = p.parent_uuid
    created = await _send(client, c, "POST", "/resource_providers", body, "create provider")
    generation = int(created.json()["generation"])
    base = f"/resource_providers/{p.uuid}"
    inventories = {rc: inv.as_json() for rc, inv in p.inventories.items()}
    body = {"resource_provider_generation": generation, "inventories": inventories}
    answer = await _send(client, c, "PUT", f"{base}/inventories", body, "put inventories")
    generation = int(answer.json()["resource_provider_generation"])
    if p.traits:
        body = {"resource_provider_generation": generation, "traits": list(p.traits)}
        answer = await _send(client, c, "PUT", f"{base}/traits", body, "put traits")
        generation = int(answer.json()["resource_provider_generation"])
    if p.aggregates:
        body = {"resource_provider_generation": generation, "aggregates": list(p.aggregates)}
        await _send(client, c, "PUT", f"{base}/aggregates", body, "put aggregates")
    c.providers_done += 1


async def _loader(client: httpx.AsyncClient, c: _Counters, trees: Iterator[TreeSpec]) -> None:
    for tree in trees:  # one shared iterator: each tree is taken by exactly one loader
        try:
            for provider in tree.providers:
                await _load_provider(client, c, provider)
        except LoadFailed:
            continue
        c.trees_done += 1


async def _progress(c: _Counters, total: int, label: str) -> None:
    while True:
        await asyncio.sleep(30)
        print(f"  [{label}] loaded {c.trees_done}/{total} trees, {c.requests} requests", flush=True)


async def load_cloud(
    client: httpx.AsyncClient, cloud: CloudSpec, concurrency: int, label: str
) -> JsonObject:
    """Create the custom traits, then every tree with ``concurrency`` loaders."""
    c = _Counters()
    started = time.perf_counter()
    for trait in cloud.custom_traits:
        c.requests += 1
        c.outcomes.record(await client.put(f"/traits/{trait}"), "put trait")
    trees = iter(cloud.trees)
    reporter = asyncio.create_task(_progress(c, len(cloud.trees), label))
    try:
        await asyncio.gather(*(_loader(client, c, trees) for _ in range(concurrency)))
    finally:
        reporter.cancel()
    return _report(c, cloud, concurrency, time.perf_counter() - started, "per-call")


def _report(
    c: _Counters, cloud: CloudSpec, concurrency: int, seconds: float, method: str
) -> JsonObject:
    return {
        "method": method,
        "concurrency": concurrency,
        "trees": c.trees_done,
        "trees_expected": len(cloud.trees),
        "providers": c.providers_done,
        "providers_expected": len(cloud.providers),
        "requests": c.requests,
        "seconds": round(seconds, 3),
        "trees_per_s": round(c.trees_done / seconds, 2),
        "providers_per_s": round(c.providers_done / seconds, 2),
        "requests_per_s": round(c.requests / seconds, 2),
        **c.outcomes.as_json(),
    }


# Providers per POST /berth/v1/provider_trees: berth's default batch limit.
BULK_BATCH = 1000


def provider_item(p: ProviderSpec) -> JsonObject:
    """One provider as an item of POST /berth/v1/provider_trees."""
    item: dict[str, Any] = {
        "uuid": p.uuid,
        "name": p.name,
        "inventories": {rc: inv.as_json() for rc, inv in p.inventories.items()},
        "traits": list(p.traits),
        "aggregates": list(p.aggregates),
    }
    if p.parent_uuid is not None:
        item["parent_provider_uuid"] = p.parent_uuid
    return item


def tree_batches(cloud: CloudSpec, batch: int) -> list[list[TreeSpec]]:
    """Whole trees packed in order into batches of at most ``batch`` providers (a tree
    larger than that gets a batch of its own), so batches may load in any order."""
    out: list[list[TreeSpec]] = [[]]
    size = 0
    for tree in cloud.trees:
        if out[-1] and size + len(tree.providers) > batch:
            out.append([])
            size = 0
        out[-1].append(tree)
        size += len(tree.providers)
    return [trees for trees in out if trees]


async def _bulk_loader(
    client: httpx.AsyncClient, c: _Counters, batches: Iterator[list[TreeSpec]]
) -> None:
    for trees in batches:  # one shared iterator: each batch is sent by exactly one loader
        items = [provider_item(p) for tree in trees for p in tree.providers]
        try:
            await _send(
                client, c, "POST", "/berth/v1/provider_trees", {"providers": items}, "bulk load"
            )
        except LoadFailed:
            continue
        c.trees_done += len(trees)
        c.providers_done += len(items)


async def load_cloud_bulk(
    client: httpx.AsyncClient, cloud: CloudSpec, batch: int, concurrency: int, label: str = "bulk"
) -> JsonObject:
    """Create the custom traits, then every tree in batches of ~``batch`` providers with
    ``concurrency`` batches in flight. Same report as ``load_cloud`` plus ``batch``."""
    c = _Counters()
    started = time.perf_counter()
    for trait in cloud.custom_traits:
        c.requests += 1
        c.outcomes.record(await client.put(f"/traits/{trait}"), "put trait")
    batches = iter(tree_batches(cloud, batch))
    reporter = asyncio.create_task(_progress(c, len(cloud.trees), label))
    try:
        await asyncio.gather(*(_bulk_loader(client, c, batches) for _ in range(concurrency)))
    finally:
        reporter.cancel()
    report = _report(c, cloud, concurrency, time.perf_counter() - started, "bulk")
    return {**report, "batch": batch}
