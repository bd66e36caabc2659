"""Read scenarios: the allocation-candidate queries a Nova scheduler sends, and a few more.

Every scenario is one URL, sent sequentially (one request in flight: this measures
latency, not throughput) after a short warm-up, until a count or a time budget is reached,
whichever comes first. Requests go through ``raw_http.RawClient`` (a keep-alive socket
that costs the client next to nothing, see there why), the same for both systems. The
size of the first successful answer is recorded too, so the two systems' answers can be
compared (same cloud, so the same number of candidates).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from bench_cloud import AVX2, DISABLED, PHYSNET1, PHYSNET2, CloudSpec
from bench_http import JsonObject, Outcomes, latency_summary
from raw_http import RawClient

SIMPLE = "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20"


@dataclass(frozen=True, slots=True)
class ReadScenario:
    name: str
    url: str
    max_count: int
    max_seconds: float
    warmup: int = 2


def read_scenarios(cloud: CloudSpec, count: int, seconds: float) -> list[ReadScenario]:
    """The read scenarios for this cloud; the unlimited query gets a smaller budget."""
    ac = "/allocation_candidates?"
    big_count = min(count, max(7, 20_000 // max(cloud.compute_nodes, 1)))
    granular = (
        "resources=VCPU:2,MEMORY_MB:2048"
        f"&resources_NIC1=SRIOV_NET_VF:1&required_NIC1={PHYSNET1}"
        f"&resources_NIC2=SRIOV_NET_VF:1&required_NIC2={PHYSNET2}"
        "&group_policy=isolate&limit=10"
    )
    subtree = (
        "resources_CPU=PCPU:2&resources_NIC=SRIOV_NET_VF:1"
        "&same_subtree=_CPU,_NIC&group_policy=none&limit=10"
    )
    return [
        ReadScenario("ac_simple_limit10", f"{ac}{SIMPLE}&limit=10", count, seconds),
        ReadScenario("ac_simple_unlimited", f"{ac}{SIMPLE}", big_count, seconds, warmup=1),
        ReadScenario("ac_required_trait", f"{ac}{SIMPLE}&required={AVX2}&limit=10", count, seconds),
        ReadScenario(
            "ac_forbidden_trait", f"{ac}{SIMPLE}&required=!{DISABLED}&limit=10", count, seconds
        ),
        ReadScenario(
            "ac_member_of",
            f"{ac}{SIMPLE}&member_of={cloud.aggregates[0]}&limit=10",
            count,
            seconds,
        ),
        ReadScenario("ac_granular_isolate", f"{ac}{granular}", count, seconds),
        ReadScenario("ac_same_subtree", f"{ac}{subtree}", count, seconds),
        ReadScenario(
            "rp_list_filtered",
            f"/resource_providers?resources=VCPU:2,MEMORY_MB:4096&required={AVX2}",
            count,
            seconds,
        ),
    ]


def _answer_size(response: httpx.Response) -> JsonObject:
    body = response.json()
    size: JsonObject = {"bytes": len(response.content)}
    for key in ("allocation_requests", "provider_summaries", "resource_providers"):
        if key in body:
            size[key] = len(body[key])
    return size


Get = Callable[[str], Awaitable[httpx.Response]]


async def run_read(
    client: httpx.AsyncClient, scenario: ReadScenario, *, raw: bool = True
) -> JsonObject:
    """Time ``scenario`` with the raw socket client, or with ``client`` itself when
    ``raw`` is false (in-process test transports, which a socket cannot reach)."""
    if not raw:
        return await _run_read(client.get, scenario, "httpx")
    sock = RawClient(str(client.base_url), dict(client.headers))

    async def get(path: str) -> httpx.Response:
        return sock.get(path)  # blocking on purpose: one request in flight, nothing else

    try:
        return await _run_read(get, scenario, "raw_http (keep-alive socket)")
    finally:
        sock.close()


async def _run_read(get: Get, scenario: ReadScenario, kind: str) -> JsonObject:
    outcomes = Outcomes()
    latencies: list[float] = []
    answer: JsonObject = {}
    for _ in range(scenario.warmup):
        try:
            await get(scenario.url)
        except (OSError, httpx.HTTPError) as exc:
            outcomes.record_exception(exc, "warm-up")
    deadline = time.perf_counter() + scenario.max_seconds
    attempts = 0
    while attempts < scenario.max_count and time.perf_counter() < deadline:
        attempts += 1
        started = time.perf_counter()
        try:
            response = await get(scenario.url)
        except (OSError, httpx.HTTPError) as exc:
            outcomes.record_exception(exc, scenario.name)
            continue
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        outcomes.record(response, scenario.name)
        if response.status_code == 200:
            latencies.append(elapsed_ms)
            if not answer:
                answer = _answer_size(response)
    return {
        "url": scenario.url,
        "client": kind,
        **latency_summary(latencies),
        **outcomes.as_json(),
        "answer": answer,
    }


async def run_reads(
    client: httpx.AsyncClient, scenarios: list[ReadScenario], *, raw: bool = True
) -> JsonObject:
    out: JsonObject = {}
    for scenario in scenarios:
        out[scenario.name] = result = await run_read(client, scenario, raw=raw)
        print(
            f"    {scenario.name:22s} p50={result['p50_ms']} ms n={result['count']} "
            f"errors={result['errors']} answer={result['answer']}",
            flush=True,
        )
    return out


async def root_latency(
    client: httpx.AsyncClient, count: int = 200, *, raw: bool = True
) -> JsonObject:
    """``GET /``: the floor of each server's request path (routing, version, JSON)."""
    scenario = ReadScenario("root", "/", count, 30.0, warmup=10)
    result = await run_read(client, scenario, raw=raw)
    result.pop("answer", None)
    return result
