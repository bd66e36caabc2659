"""Claims: concurrent schedulers racing for the same capacity, then a consistency audit.

Each client loops like a Nova scheduler for a fixed time: GET /allocation_candidates, pick
one of the returned allocation requests at random, PUT it as a new consumer's allocations
(consumer_generation null, consumer_type INSTANCE at 1.38+). Lost races are 409s. Every
successful claim is remembered (the "ledger") so the audit can check not only that usage
never exceeds capacity and equals the sum of allocations, but also that it equals exactly
what the server acknowledged - no lost and no phantom writes.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
from bench_cloud import CloudSpec, ProviderSpec
from bench_http import (
    USAGES_MICROVERSION,
    JsonObject,
    Outcomes,
    error_code,
    latency_summary,
    version_header,
)
from bench_reads import SIMPLE

PROJECT_ID = "6f4a1c3e-0b2d-4e5f-9a8b-7c6d5e4f3a21"
USER_ID = "bench-user"
Ledger = Counter[tuple[str, str]]


@dataclass
class ClaimStats:
    successes: int = 0
    conflicts: Counter[str] = field(default_factory=Counter)
    other: Outcomes = field(default_factory=Outcomes)
    no_candidates: int = 0
    get_ms: list[float] = field(default_factory=list)
    put_ms: list[float] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)  # to delete afterwards
    ledger: Ledger = field(default_factory=Counter)


def claim_query(limit: int) -> str:
    return f"/allocation_candidates?{SIMPLE}&limit={limit}"


async def _claim_once(
    client: httpx.AsyncClient, stats: ClaimStats, rng: random.Random, query: str
) -> None:
    started = time.perf_counter()
    got = await client.get(query)
    stats.get_ms.append((time.perf_counter() - started) * 1000.0)
    if got.status_code != 200:
        stats.other.record(got, "GET candidates")
        return
    requests = got.json()["allocation_requests"]
    if not requests:
        stats.no_candidates += 1
        await asyncio.sleep(0.05)
        return
    chosen = rng.choice(requests)
    consumer = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    body: JsonObject = {
        "allocations": chosen["allocations"],
        "project_id": PROJECT_ID,
        "user_id": USER_ID,
        "consumer_generation": None,
        "consumer_type": "INSTANCE",
    }
    if "mappings" in chosen:
        body["mappings"] = chosen["mappings"]
    started = time.perf_counter()
    try:
        put = await client.put(f"/allocations/{consumer}", json=body)
    except httpx.HTTPError:
        stats.consumers.append(consumer)  # outcome unknown: clean it up anyway
        raise
    stats.put_ms.append((time.perf_counter() - started) * 1000.0)
    if put.status_code == 204:
        stats.successes += 1
        stats.consumers.append(consumer)
        for rp, alloc in chosen["allocations"].items():
            for rc, amount in alloc["resources"].items():
                stats.ledger[(rp, rc)] += int(amount)
    elif put.status_code == 409:
        stats.conflicts[error_code(put)] += 1
    else:
        stats.other.record(put, "PUT allocations")
        stats.consumers.append(consumer)


async def _client_loop(
    client: httpx.AsyncClient, stats: ClaimStats, seed: int, query: str, deadline: float
) -> None:
    rng = random.Random(seed)
    while time.perf_counter() < deadline:
        try:
            await _claim_once(client, stats, rng, query)
        except httpx.HTTPError as exc:
            stats.other.record_exception(exc, "claim")


async def claim_phase(
    client: httpx.AsyncClient, clients: int, duration: float, limit: int, seed: int
) -> tuple[JsonObject, ClaimStats]:
    """``clients`` concurrent claim loops for ``duration`` seconds."""
    stats = ClaimStats()
    query = claim_query(limit)
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(
        *(_client_loop(client, stats, seed * 1000 + i, query, deadline) for i in range(clients))
    )
    elapsed = time.perf_counter() - started
    result: JsonObject = {
        "clients": clients,
        "seconds": round(elapsed, 3),
        "successes": stats.successes,
        "claims_per_s": round(stats.successes / elapsed, 3),
        "conflicts_409": sum(stats.conflicts.values()),
        "conflict_codes": dict(stats.conflicts),
        "no_candidates": stats.no_candidates,
        "other_errors": stats.other.errors,
        "other": stats.other.as_json(),
        "get_candidates": latency_summary(stats.get_ms),
        "put_allocations": latency_summary(stats.put_ms),
    }
    return result, stats


async def cleanup(client: httpx.AsyncClient, consumers: list[str], concurrency: int) -> JsonObject:
    """DELETE every consumer the phase created, then confirm the project uses nothing."""
    outcomes = Outcomes()
    todo = iter(consumers)

    async def worker() -> None:
        for consumer in todo:
            try:
                response = await client.delete(f"/allocations/{consumer}")
            except httpx.HTTPError as exc:
                outcomes.record_exception(exc, "DELETE allocations")
                continue
            if response.status_code != 404:  # 404: an unknown-outcome claim never landed
                outcomes.record(response, "DELETE allocations")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    usages = await client.get(
        "/usages", params={"project_id": PROJECT_ID}, headers=version_header(USAGES_MICROVERSION)
    )
    left: JsonObject | str
    if usages.status_code == 200:
        left = {rc: n for rc, n in usages.json()["usages"].items() if n}
    else:
        left = f"GET /usages answered {usages.status_code}"
    return {
        "deleted": len(consumers),
        "seconds": round(time.perf_counter() - started, 3),
        "residual_project_usage": left,
        **outcomes.as_json(),
    }


@dataclass
class _Audit:
    checked: int = 0
    overcommit: int = 0
    usage_vs_allocations: int = 0
    usage_vs_ledger: int = 0
    inventory_vs_spec: int = 0
    examples: list[str] = field(default_factory=list)
    outcomes: Outcomes = field(default_factory=Outcomes)

    def note(self, text: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(text)


async def _get(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET, sent once more if the connection broke before an answer came (a kept-alive
    connection the server closed as the request went out: 3 of 420,000 audit GETs at
    100,000 nodes on 2026-11-21). A GET changes nothing, so repeating it is safe."""
    try:
        return await client.get(url)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError):
        return await client.get(url)


async def _audit_provider(
    client: httpx.AsyncClient, audit: _Audit, p: ProviderSpec, acknowledged: Counter[str]
) -> None:
    base = f"/resource_providers/{p.uuid}"
    inv, use, alloc = await asyncio.gather(
        _get(client, f"{base}/inventories"),
        _get(client, f"{base}/usages"),
        _get(client, f"{base}/allocations"),
    )
    for response in (inv, use, alloc):
        audit.outcomes.record(response, base)
    if not all(r.status_code == 200 for r in (inv, use, alloc)):
        return
    inventories = inv.json()["inventories"]
    usages = use.json()["usages"]
    summed: Counter[str] = Counter()
    for consumer in alloc.json()["allocations"].values():
        for rc, amount in consumer["resources"].items():
            summed[rc] += int(amount)
    audit.checked += 1
    for rc, spec in p.inventories.items():
        got = inventories.get(rc)
        if got is None or got["total"] != spec.total or got["reserved"] != spec.reserved:
            audit.inventory_vs_spec += 1
            audit.note(f"{p.name} {rc}: inventory {got} differs from what was loaded")
    for rc in set(usages) | set(acknowledged):
        used = usages.get(rc, 0)
        got = inventories.get(rc)
        capacity = int((got["total"] - got["reserved"]) * got["allocation_ratio"]) if got else 0
        if used > capacity:
            audit.overcommit += 1
            audit.note(f"{p.name} {rc}: usage {used} > capacity {capacity}")
        if used != summed[rc]:
            audit.usage_vs_allocations += 1
            audit.note(f"{p.name} {rc}: usage {used} != sum of allocations {summed[rc]}")
        if used != acknowledged[rc]:
            audit.usage_vs_ledger += 1
            audit.note(f"{p.name} {rc}: usage {used} != acknowledged claims {acknowledged[rc]}")
    for rc, amount in summed.items():
        if rc not in usages and amount:
            audit.usage_vs_allocations += 1
            audit.note(f"{p.name} {rc}: allocations {amount} but no usage reported")


async def consistency_check(
    client: httpx.AsyncClient, cloud: CloudSpec, ledger: Ledger, concurrency: int
) -> JsonObject:
    """Audit every provider through the API (three GETs each)."""
    audit = _Audit()
    listed = await client.get("/resource_providers")
    audit.outcomes.record(listed, "GET /resource_providers")
    listed_count = len(listed.json()["resource_providers"]) if listed.status_code == 200 else None
    providers = iter(cloud.providers)
    by_provider: dict[str, Counter[str]] = {}
    for (rp, rc), amount in ledger.items():
        by_provider.setdefault(rp, Counter())[rc] += amount

    async def worker() -> None:
        for provider in providers:
            try:
                acknowledged = by_provider.get(provider.uuid, Counter())
                await _audit_provider(client, audit, provider, acknowledged)
            except httpx.HTTPError as exc:
                audit.outcomes.record_exception(exc, provider.name)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "providers_expected": len(cloud.providers),
        "providers_listed": listed_count,
        "providers_checked": audit.checked,
        "overcommit": audit.overcommit,
        "usage_vs_allocations_mismatch": audit.usage_vs_allocations,
        "usage_vs_acknowledged_claims_mismatch": audit.usage_vs_ledger,
        "inventory_vs_loaded_mismatch": audit.inventory_vs_spec,
        "examples": audit.examples,
        "seconds": round(time.perf_counter() - started, 3),
        **audit.outcomes.as_json(),
    }
