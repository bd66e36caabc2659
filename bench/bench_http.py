"""The HTTP side of the benchmark: one client shape for both servers, and latency statistics.

Both systems are driven by the same asyncio httpx client with the same headers, so the
client's own overhead is identical on both sides. Only loopback targets are accepted: the
benchmark must never send traffic anywhere else.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

MICROVERSION = "1.39"
# GET /usages at >= 1.38 answers 500 on Placement 16.0.0 (PostgreSQL); 1.9 is where it appeared.
USAGES_MICROVERSION = "1.9"
JsonObject = dict[str, Any]


def make_client(
    base_url: str,
    concurrency: int,
    timeout_s: float = 600.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An admin (noauth2) client speaking microversion 1.39 to a loopback server.

    ``transport`` lets the harness's own tests drive an in-process app instead.
    """
    host = urlsplit(base_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"refusing non-loopback target {base_url!r}")
    slots = concurrency + 4
    return httpx.AsyncClient(
        base_url=base_url,
        headers={
            "X-Auth-Token": "admin",
            "OpenStack-API-Version": f"placement {MICROVERSION}",
            "Accept": "application/json",
        },
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(max_connections=slots, max_keepalive_connections=slots),
        transport=transport,
    )


def version_header(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"placement {version}"}


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of already sorted values."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def latency_summary(latencies_ms: list[float]) -> dict[str, float | int | None]:
    values = sorted(latencies_ms)
    mean = sum(values) / len(values) if values else math.nan
    return {
        "count": len(values),
        "p50_ms": _ms(percentile(values, 50)),
        "p95_ms": _ms(percentile(values, 95)),
        "p99_ms": _ms(percentile(values, 99)),
        "mean_ms": _ms(mean),
        "max_ms": _ms(values[-1]) if values else None,
    }


@dataclass
class Outcomes:
    """Status counts and the first few error bodies of a batch of requests."""

    statuses: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def record(self, response: httpx.Response, what: str = "") -> None:
        self.statuses[str(response.status_code)] += 1
        if response.status_code >= 400 and len(self.examples) < 3:
            detail = response.text[:300].replace("\n", " ")
            self.examples.append(f"{what} {response.status_code}: {detail}".strip())

    def record_exception(self, exc: Exception, what: str = "") -> None:
        self.statuses[f"exception:{type(exc).__name__}"] += 1
        if len(self.examples) < 3:
            self.examples.append(f"{what} {type(exc).__name__}: {exc}"[:300].strip())

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))

    def as_json(self) -> JsonObject:
        return {
            "statuses": dict(sorted(self.statuses.items())),
            "errors": self.errors,
            "error_examples": self.examples,
        }


def error_code(response: httpx.Response) -> str:
    """Placement's error code (``placement.concurrent_update``...) or ``status:<n>``."""
    try:
        errors = response.json().get("errors") or [{}]
        code = errors[0].get("code")
    except (ValueError, AttributeError):
        code = None
    return str(code) if code else f"status:{response.status_code}"
