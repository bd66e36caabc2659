"""berth vs OpenStack Placement, side by side in one run: load, reads, claims, floor, memory.

    .venv/bin/python bench/placement_bench.py --nodes 1000 [--nodes 10000] \
        [--berth-only-nodes 100000] [--duration 20] [--out results.json]

For every size N the same seeded cloud is loaded into a freshly reset Placement (the
anchor, via ../shared/anchor/start.sh) and a fresh berth database, each server is measured
alone (the other is stopped), and one JSON document is printed (and written to --out after
every step, so a long run that dies keeps what it measured). ``ratios`` compares the two:
placement_p50 / berth_p50 per read, berth / placement for claim and load rates (so > 1
always means berth is better). Traffic goes only to 127.0.0.1; every loop is bounded by a
count or a time limit; servers are stopped and the benchmark database dropped on exit,
Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from bench_claims import claim_phase, cleanup, consistency_check
from bench_cloud import CloudSpec, build_cloud
from bench_engine import engine_floor
from bench_http import JsonObject, make_client
from bench_load import BULK_BATCH, load_cloud, load_cloud_bulk
from bench_reads import read_scenarios, root_latency, run_reads
from bench_servers import ANCHOR_PG_PORT, Anchor, Berth, Postgres, process_memory

REPO = Path(__file__).resolve().parent.parent
BERTH_DB_NAME = "berth_bench"
PLACEMENT = "placement"
# Reads whose work berth also does in-process, without HTTP (the "floor").
FLOOR_SCENARIOS = ("ac_simple_limit10", "ac_simple_unlimited")
BERTH = "berth"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--nodes", type=int, action="append", help="compute nodes (repeatable)")
    ap.add_argument(
        "--berth-only-nodes", type=int, action="append", default=[], help="sizes run on berth only"
    )
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per claim phase")
    ap.add_argument("--out", type=Path, help="write the JSON document here too")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--systems", default="placement,berth", help="comma list (default both)")
    ap.add_argument("--loaders", type=int, default=8, help="concurrent loaders (and auditors)")
    ap.add_argument("--clients", default="1,4,16", help="claim client counts")
    ap.add_argument("--claim-limit", type=int, default=10, help="limit= of the claim GET")
    ap.add_argument("--read-count", type=int, default=100, help="max samples per read")
    ap.add_argument("--read-seconds", type=float, default=15.0, help="max seconds per read")
    ap.add_argument(
        "--read-client",
        choices=("raw", "httpx"),
        default="raw",
        help="what times the reads: a keep-alive socket (raw_http.py, default) or httpx",
    )
    ap.add_argument("--workers", type=int, default=2, help="worker processes of each server")
    ap.add_argument("--berth-port", type=int, default=8870)
    ap.add_argument(
        "--berth-load",
        choices=("bulk", "per-call"),
        default="bulk",
        help="how berth is loaded: POST /berth/v1/provider_trees in batches of "
        f"{BULK_BATCH} providers (berth's bulk extension), or per call as Placement is",
    )
    ap.add_argument("--berth-bin", type=Path, default=REPO / ".venv" / "bin" / "berth")
    ap.add_argument(
        "--berth-pg",
        choices=("anchor", "machine"),
        default="anchor",
        help=f"berth's PostgreSQL: the anchor's private cluster (127.0.0.1:{ANCHOR_PG_PORT}, "
        "same server settings as Placement's) or the machine's (127.0.0.1:5432)",
    )
    ap.add_argument("--anchor-scripts", type=Path, default=REPO.parent / "shared" / "anchor")
    ap.add_argument("--log-dir", type=Path, default=Path("/tmp/berth-bench-logs"))
    args = ap.parse_args(argv)
    args.nodes = args.nodes if args.nodes is not None else ([] if args.berth_only_nodes else [1000])
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    args.clients = [int(c) for c in args.clients.split(",")]
    unknown = set(args.systems) - {PLACEMENT, BERTH}
    if unknown:
        ap.error(f"unknown systems {sorted(unknown)}")
    return args


def client_for(url: str, args: argparse.Namespace) -> httpx.AsyncClient:
    return make_client(url, max(args.loaders, max(args.clients)))


async def bench_system(
    name: str,
    client: httpx.AsyncClient,
    master_pid: Callable[[], int | None],
    cloud: CloudSpec,
    args: argparse.Namespace,
) -> JsonObject:
    """Everything measured on one server, in order: load, floor, reads, memory, claims, audit.

    ``args.berth_db_url`` (berth only) is the database the in-process engine floor reads.
    """
    # Other work on the machine skews every number: record how busy it was.
    out: JsonObject = {"url": str(client.base_url), "loadavg_at_start": os.getloadavg()}
    print(f"  [{name}] loading {len(cloud.providers)} providers", flush=True)
    if name == BERTH and args.berth_load == "bulk":
        load = await load_cloud_bulk(client, cloud, BULK_BATCH, args.loaders, name)
    else:
        load = await load_cloud(client, cloud, args.loaders, name)
    out["load"] = load
    print(
        f"  [{name}] load: {load['seconds']}s, {load['providers_per_s']} providers/s, "
        f"{load['requests_per_s']} req/s, errors={load['errors']}",
        flush=True,
    )
    raw = args.read_client == "raw"
    out["root"] = await root_latency(client, raw=raw)
    print(f"  [{name}] GET / p50={out['root']['p50_ms']} ms", flush=True)
    scenarios = read_scenarios(cloud, args.read_count, args.read_seconds)
    out["reads"] = await run_reads(client, scenarios, raw=raw)
    out["memory_after_reads"] = process_memory(master_pid())
    if name == BERTH:
        out["engine_floor"] = floors = {}
        for scenario in scenarios:
            if scenario.name not in FLOOR_SCENARIOS:
                continue
            print(f"  [{name}] in-process engine floor: {scenario.name}", flush=True)
            floors[scenario.name] = floor = await asyncio.to_thread(
                engine_floor, args.berth_db_url, scenario.url, scenario.max_count, args.read_seconds
            )
            floor["http_p50_ms"] = out["reads"][scenario.name]["p50_ms"]
            print(
                f"    selection p50={floor.get('selection', {}).get('p50_ms')} ms "
                f"{floor.get('error', '')}",
                flush=True,
            )
    out["claims"] = {}
    for i, clients in enumerate(args.clients):
        result, stats = await claim_phase(
            client, clients, args.duration, args.claim_limit, args.seed + i
        )
        print(
            f"  [{name}] claims x{clients}: {result['claims_per_s']}/s "
            f"ok={result['successes']} 409={result['conflicts_409']} "
            f"other={result['other_errors']}",
            flush=True,
        )
        if i == len(args.clients) - 1:
            print(f"  [{name}] auditing every provider", flush=True)
            out["consistency"] = audit = await consistency_check(
                client, cloud, stats.ledger, args.loaders
            )
            audit["after_claim_phase_clients"] = clients
            print(
                f"  [{name}] audit: overcommit={audit['overcommit']} "
                f"mismatch={audit['usage_vs_allocations_mismatch']} "
                f"ledger={audit['usage_vs_acknowledged_claims_mismatch']} "
                f"errors={audit['errors']}",
                flush=True,
            )
        result["cleanup"] = await cleanup(client, stats.consumers, args.loaders)
        out["claims"][str(clients)] = result
    out["memory_after_claims"] = process_memory(master_pid())
    out["loadavg_at_end"] = os.getloadavg()
    return out


async def _bench_server(
    name: str,
    url: str,
    master_pid: Callable[[], int | None],
    cloud: CloudSpec,
    args: argparse.Namespace,
) -> JsonObject:
    started = time.perf_counter()
    async with client_for(url, args) as client:
        result = await bench_system(name, client, master_pid, cloud, args)
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    return result


def _ratio(num: Any, den: Any) -> float | None:
    if not isinstance(num, int | float) or not isinstance(den, int | float) or not den:
        return None
    return round(num / den, 3)


def ratios(placement: JsonObject, berth: JsonObject) -> JsonObject:
    """placement/berth for latencies, berth/placement for rates: > 1 means berth is better."""
    reads = {
        name: _ratio(result["p50_ms"], berth["reads"][name]["p50_ms"])
        for name, result in placement["reads"].items()
    }
    answers = {
        name: {
            PLACEMENT: result["answer"].get(
                "allocation_requests", result["answer"].get("resource_providers")
            ),
            BERTH: berth["reads"][name]["answer"].get(
                "allocation_requests", berth["reads"][name]["answer"].get("resource_providers")
            ),
        }
        for name, result in placement["reads"].items()
    }
    claims = {
        n: _ratio(berth["claims"][n]["claims_per_s"], result["claims_per_s"])
        for n, result in placement["claims"].items()
    }
    p_mem, b_mem = placement["memory_after_reads"], berth["memory_after_reads"]
    return {
        "read_p50_placement_over_berth": reads,
        "root_p50_placement_over_berth": _ratio(
            placement["root"]["p50_ms"], berth["root"]["p50_ms"]
        ),
        "claims_per_s_berth_over_placement": claims,
        "load_providers_per_s_berth_over_placement": _ratio(
            berth["load"]["providers_per_s"], placement["load"]["providers_per_s"]
        ),
        "load_requests_per_s_berth_over_placement": _ratio(
            berth["load"]["requests_per_s"], placement["load"]["requests_per_s"]
        ),
        "workers_rss_placement_over_berth": _ratio(
            p_mem.get("workers_rss_mb_total"), b_mem.get("workers_rss_mb_total")
        ),
        "answer_sizes": answers,
    }


class Run:
    """One benchmark run: owns the servers and the JSON document, cleans up on any exit."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        args.log_dir.mkdir(parents=True, exist_ok=True)
        self.anchor = Anchor(args.anchor_scripts, args.log_dir / "anchor.log", args.workers)
        self.berth = Berth(
            args.berth_bin, args.berth_port, args.log_dir / "berth.log", args.workers
        )
        self.pg = Postgres(ANCHOR_PG_PORT if args.berth_pg == "anchor" else 5432)
        self.db_created = False
        self.started = time.time()
        self.doc: JsonObject = {"meta": self._meta(), "sizes": {}}

    def _meta(self) -> JsonObject:
        a = self.args
        return {
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "host": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "seed": a.seed,
            "systems": a.systems,
            "placement": "OpenStack Placement 16.0.0 (anchor): gunicorn sync workers, "
            f"PostgreSQL 15 at 127.0.0.1:{ANCHOR_PG_PORT} (db placement, reset per size)",
            "berth": f"berth serve (gunicorn gthread), PostgreSQL at 127.0.0.1:{self.pg.port} "
            f"({'anchor private cluster' if a.berth_pg == 'anchor' else 'machine server'}, "
            f"db {BERTH_DB_NAME}, recreated per size)",
            "workers_per_server": a.workers,
            "microversion": "1.39 (GET /usages after cleanup at 1.9)",
            "client": "one asyncio httpx client per server; reads sequential (latency), load "
            f"with {a.loaders} concurrent loaders; servers measured one at a time (the other "
            "stopped); connections reused where the server allows it (Placement's gunicorn "
            "sync workers close each one, berth's gthread workers keep them alive)",
            "claims": {
                "duration_s": a.duration,
                "clients": a.clients,
                "query": f"resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20&limit={a.claim_limit}",
                "between_phases": "every consumer a phase created is DELETEd through the API "
                "and GET /usages?project_id confirms nothing is left, so each phase starts "
                "from the same empty cloud; the audit runs after the last phase",
            },
            "reads": {"max_count": a.read_count, "max_seconds": a.read_seconds},
        }

    def save(self) -> None:
        self.doc["meta"]["elapsed_s"] = round(time.time() - self.started, 1)
        if self.args.out is not None:
            tmp = self.args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.doc, indent=2) + "\n")
            tmp.replace(self.args.out)

    def run(self) -> None:
        a = self.args
        sizes = [(n, a.systems, str(n)) for n in a.nodes]
        sizes += [(n, [BERTH], f"{n}-berth-only") for n in a.berth_only_nodes if BERTH in a.systems]
        if any(PLACEMENT in systems for _, systems, _ in sizes) or a.berth_pg == "anchor":
            self.anchor.ensure_free()
        if BERTH in a.systems and a.berth_pg == "anchor":
            self.anchor.ensure_pg()
        for nodes, systems, key in sizes:
            self.run_size(nodes, systems, key)

    def run_size(self, nodes: int, systems: list[str], key: str) -> None:
        started = time.time()
        cloud = build_cloud(nodes, self.args.seed)
        size: JsonObject = {"nodes": nodes, "cloud": dict(cloud.stats), "systems": {}}
        self.doc["sizes"][key] = size
        print(f"== {nodes} compute nodes ({cloud.stats['providers']} providers)", flush=True)
        if PLACEMENT in systems:
            self.anchor.start(reset=True)
            try:
                size["systems"][PLACEMENT] = asyncio.run(
                    _bench_server(
                        PLACEMENT, self.anchor.url, self.anchor.master_pid, cloud, self.args
                    )
                )
            finally:
                self.anchor.stop()
            self.save()
        if BERTH in systems:
            self.args.berth_db_url = self.pg.recreate(BERTH_DB_NAME, self.args.log_dir / "pg.log")
            self.db_created = True
            self.berth.start(self.args.berth_db_url)
            try:
                size["systems"][BERTH] = asyncio.run(
                    _bench_server(BERTH, self.berth.url, self.berth.master_pid, cloud, self.args)
                )
            finally:
                self.berth.stop()
        if PLACEMENT in size["systems"] and BERTH in size["systems"]:
            size["ratios"] = ratios(size["systems"][PLACEMENT], size["systems"][BERTH])
        size["elapsed_s"] = round(time.time() - started, 1)
        self.save()

    def close(self) -> None:
        """Stop whatever was started; each step runs even if an earlier one fails."""
        steps = [self.berth.stop]
        if self.db_created:
            steps.append(lambda: self.pg.drop(BERTH_DB_NAME, self.args.log_dir / "pg.log"))
        steps.append(self.anchor.shutdown)
        for step in steps:
            try:
                step()
            except Exception as exc:  # keep cleaning up
                print(f"cleanup step failed: {exc}", file=sys.stderr)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    run = Run(args)
    status = 0
    try:
        run.run()
    except KeyboardInterrupt:
        print("interrupted: cleaning up", file=sys.stderr)
        run.doc["meta"]["interrupted"] = "SIGINT"
        status = 130
    except SystemExit as exc:  # SIGTERM (see _terminate)
        print("terminated: cleaning up", file=sys.stderr)
        run.doc["meta"]["interrupted"] = "SIGTERM"
        status = exc.code if isinstance(exc.code, int) else 143
    except Exception as exc:
        run.doc["meta"]["failed"] = f"{type(exc).__name__}: {exc}"
        print(f"benchmark failed: {exc}", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        run.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        run.save()
    print(json.dumps(run.doc, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
