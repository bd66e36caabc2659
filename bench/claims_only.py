"""Only the claims part of the side-by-side benchmark, against a berth already serving.

A development yardstick for claim throughput: the same client loops as
``placement_bench`` (``bench_claims.claim_phase``: GET candidates, PUT a random one as a
new consumer), for 1, 4 and 16 clients, each phase followed by the same cleanup. After
the last phase (before its cleanup) it audits; by default only the providers that hold
the acknowledged claims plus the project total (a phantom or lost write shows up as a
ledger mismatch there), ``--audit-all`` audits every provider as the full benchmark does.

    .venv/bin/python bench/claims_only.py --url http://127.0.0.1:8910 --nodes 10000
        [--clients 1,4,16] [--duration 20] [--audit-all] [--server-pid PID
        --pg-url postgresql://postgres@127.0.0.1/postgres --pg-database DB]

With ``--server-pid`` (and ``--pg-url``/``--pg-database``) each phase also reports the CPU
milliseconds per claim spent by the workers, their PostgreSQL sessions and this client.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import time
from collections import Counter
from typing import Any

import httpx
from bench_claims import (
    PROJECT_ID,
    claim_phase,
    cleanup,
    consistency_check,
)
from bench_cloud import CloudSpec, build_cloud
from bench_http import USAGES_MICROVERSION, make_client, version_header


def _touched(cloud: CloudSpec, ledger: Counter[tuple[str, str]]) -> CloudSpec:
    """The cloud cut down to the trees holding acknowledged claims (what the audit reads)."""
    held = {rp for rp, _ in ledger}
    trees = tuple(t for t in cloud.trees if any(p.uuid in held for p in t.providers))
    return dataclasses.replace(cloud, trees=trees)


async def _project_total(client: httpx.AsyncClient) -> dict[str, int]:
    got = await client.get(
        "/usages", params={"project_id": PROJECT_ID}, headers=version_header(USAGES_MICROVERSION)
    )
    got.raise_for_status()
    return {rc: n for rc, n in got.json()["usages"].items() if n}


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except OSError:
                continue
    return out


class CpuMeter:
    """CPU seconds spent by the server's workers, its database sessions and this client,
    per phase: a measure of cost per claim that other load on the machine skews far less
    than claims per second do."""

    def __init__(self, server_pid: int | None, pg_url: str | None, database: str | None) -> None:
        self.server_pid = server_pid
        self.pg_url = pg_url
        self.database = database
        self._start: dict[str, dict[int, float]] = {}

    def _sample(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {"client": {os.getpid(): time.process_time()}}
        if self.server_pid is not None:
            out["workers"] = {pid: _cpu_s(pid) for pid in _children(self.server_pid)}
        if self.pg_url and self.database:
            import psycopg

            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.database,)
                ).fetchall()
            out["postgres"] = {int(pid): _cpu_s(int(pid)) for (pid,) in rows}
        return out

    def start(self) -> None:
        self._start = self._sample()

    def stop(self, claims: int) -> dict[str, float]:
        end = self._sample()
        spent = {
            part: sum(t - self._start.get(part, {}).get(pid, 0.0) for pid, t in pids.items())
            for part, pids in end.items()
        }
        result = {f"{part}_ms_per_claim": 1000 * t / max(claims, 1) for part, t in spent.items()}
        result["total_ms_per_claim"] = sum(result.values())
        return {k: round(v, 2) for k, v in result.items()}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cloud = build_cloud(args.nodes)
    clients = [int(c) for c in args.clients.split(",")]
    out: dict[str, Any] = {"seed": args.seed, "loadavg_at_start": os.getloadavg(), "phases": {}}
    async with make_client(args.url, max(clients) + 8) as client:
        meter = CpuMeter(args.server_pid, args.pg_url, args.pg_database)
        for i, n in enumerate(clients):
            meter.start()
            result, stats = await claim_phase(client, n, args.duration, args.limit, args.seed + i)
            result["cpu"] = cpu = meter.stop(stats.successes)
            line = (
                f"x{n}: {result['claims_per_s']}/s ok={result['successes']} "
                f"409={result['conflicts_409']} {result['conflict_codes']} "
                f"other={result['other_errors']} get_p50={result['get_candidates']['p50_ms']} "
                f"put_p50={result['put_allocations']['p50_ms']} cpu_ms/claim={cpu}"
            )
            print(line, flush=True)
            if i == len(clients) - 1 and not args.no_audit:
                scope = cloud if args.audit_all else _touched(cloud, stats.ledger)
                audit = await consistency_check(client, scope, stats.ledger, 8)
                summed: Counter[str] = Counter()
                for (_, rc), amount in stats.ledger.items():
                    summed[rc] += amount
                total = await _project_total(client)
                audit["project_usage_vs_ledger_ok"] = total == dict(summed)
                out["audit"] = audit
                print(
                    f"audit: checked={audit['providers_checked']} overcommit={audit['overcommit']} "
                    f"mismatch={audit['usage_vs_allocations_mismatch']} "
                    f"ledger={audit['usage_vs_acknowledged_claims_mismatch']} "
                    f"project_total_ok={audit['project_usage_vs_ledger_ok']} "
                    f"errors={audit['errors']}",
                    flush=True,
                )
            result["cleanup"] = await cleanup(client, stats.consumers, 8)
            if result["cleanup"]["residual_project_usage"]:
                print(f"cleanup left usage: {result['cleanup']}", flush=True)
            out["phases"][str(n)] = result
    out["loadavg_at_end"] = os.getloadavg()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8910")
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--limit", type=int, default=10)
    # Consumer uuids derive from the seed: a fixed one would reuse the uuids of an earlier
    # run whose cleanup did not finish (409s), so each run draws its own unless told.
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--audit-all", action="store_true")
    ap.add_argument("--no-audit", action="store_true")
    ap.add_argument("--json", default=None, help="write the full result here")
    ap.add_argument("--server-pid", type=int, default=None, help="gunicorn master (CPU use)")
    ap.add_argument("--pg-url", default=None, help="PostgreSQL URL to find sessions (CPU use)")
    ap.add_argument("--pg-database", default=None, help="database whose sessions to count")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2**31)
    result = asyncio.run(run(args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
