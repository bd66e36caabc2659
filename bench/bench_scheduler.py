"""Scheduler throughput at 10,000 hosts: placements/s and latency per request kind.

    .venv/bin/python bench/bench_scheduler.py [--hosts 10000] [--nfv-share 0.2]
        [--clients 128] [--seconds 15] [--workers 2] [--out sched.json]

Starts ``berth serve`` (2 gunicorn workers by default) on a fresh PostgreSQL database
(``--pg-port``, default the machine's 5432) or uses ``--url``/``--database-url`` as given,
loads the cloud of ``bench/sched_cloud.py`` through the API, then runs one phase per
request kind, each for ``--seconds`` with ``--clients`` concurrent clients looping
``POST /berth/v1/schedule``:

* ``plain``: 2 vCPU / 4 GiB / 20 GB, one instance per request;
* ``plain_x100``: the same flavor, ``num_instances=100`` (all-or-nothing);
* ``pinned``: ``hw:cpu_policy=dedicated``, 4 vCPU / 8 GiB (lands on NFV hosts);
* ``hugepages_sriov``: ``hw:mem_page_size`` 1GB or 2MB, 2 vCPU / 4 GiB, one SR-IOV port
  on physnet1 or physnet2;
* ``anti_affinity``: a new anti-affinity group per 10 instances, scheduled one request per
  instance (each request sees the members placed before it);
* ``anti_affinity_x10``: a new anti-affinity group, one request with ``num_instances=10``;
* ``mixed``: each step one of plain (twice as likely), pinned, huge pages + SR-IOV or an
  anti-affinity group of 10 in one request;
* ``no_valid_host``: requests nothing can serve (too big, an unknown physnet, a full
  group), to show that failures come back fast and explained.

Before each phase the database's planner statistics are refreshed (``ANALYZE``): this
machine's PostgreSQL runs with autovacuum off, and the phases grow the allocation tables
by tens of thousands of rows, which autovacuum's auto-analyze would otherwise follow.

Every answer is checked: each stage's reason counts add up to the hosts it removed, and a
failure's stages account for every host (so every rejection carries a reason). After the
run ``sched_audit`` checks every provider's capacity, the allocations against the
answers, every group's policy and every NUMA/PCI assignment, in the database itself.
Prints one JSON document (and writes it to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sched_audit
import sched_cloud
from bench_http import latency_summary
from bench_servers import Berth, Postgres, process_memory
from raw_http import RawClient

REPO = Path(__file__).resolve().parent.parent
HEADERS = {
    "X-Auth-Token": "admin",
    "OpenStack-API-Version": "placement 1.39",
    "Accept": "application/json",
}
PLAIN = {"name": "m1.medium", "vcpus": 2, "memory_mb": 4096, "root_gb": 20}
PINNED = {
    "name": "nfv.pinned",
    "vcpus": 4,
    "memory_mb": 8192,
    "root_gb": 20,
    "extra_specs": {"hw:cpu_policy": "dedicated"},
}


def _huge(size: str) -> dict[str, Any]:
    return {
        "name": f"nfv.pages.{size}",
        "vcpus": 2,
        "memory_mb": 4096,
        "root_gb": 20,
        "extra_specs": {"hw:mem_page_size": size},
    }


Body = dict[str, Any]


@dataclass
class Shared:
    """What all clients of a run add to: the answers' allocations and group members."""

    ledger: sched_audit.Ledger = field(default_factory=Counter)
    groups: dict[str, tuple[str, set[str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, body: Body, group: str | None) -> None:
        with self.lock:
            for p in body["placements"]:
                for rp, alloc in p["allocations"].items():
                    for rc, amount in alloc["resources"].items():
                        self.ledger[(p["instance_uuid"], rp, rc)] += amount
                if group is not None:
                    self.groups[group][1].add(p["instance_uuid"])


@dataclass
class PhaseResult:
    latencies_ms: list[float] = field(default_factory=list)
    placed: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    unexplained: int = 0
    examples: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    attempts: Counter[int] = field(default_factory=Counter)

    def merge(self, other: PhaseResult) -> None:
        self.latencies_ms += other.latencies_ms
        self.placed += other.placed
        self.requests += other.requests
        self.statuses.update(other.statuses)
        self.unexplained += other.unexplained
        self.examples += other.examples[: max(0, 5 - len(self.examples))]
        self.reasons.update(other.reasons)
        self.attempts.update(other.attempts)


def check_explanation(body: Body, ok: bool, named: str | None = None) -> str | None:
    """None when every removed host carries a reason, else what is missing: every reason
    is a non-empty text, a failure's stages account for every host, and a host the
    request asked about (``explain_hosts``) that was not chosen has its own reasons."""
    ex = body.get("explanation")
    if not isinstance(ex, dict):
        return "no explanation"
    removed = 0
    for stage in ex.get("stages", []):
        for reason, n in stage.get("reasons", {}).items():
            if not str(reason).strip():
                return f"stage {stage.get('stage')}: a rejection without a reason"
            removed += int(n)
    if not ok and removed != int(ex.get("hosts_total", -1)):
        return f"failure explains {removed} of {ex.get('hosts_total')} hosts"
    chosen = ex.get("chosen", [])
    if named is not None and named not in chosen and not ex.get("hosts", {}).get(named):
        return f"no reason given for the named host {named}"
    return None


class Client:
    """One benchmark client: its own connection, its own request stream."""

    def __init__(
        self,
        url: str,
        shared: Shared,
        seed: int,
        hosts: int,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.hosts = hosts
        # The harness's own tests pass an in-process transport; against a server the
        # raw keep-alive client keeps the client's CPU (on the same cores) small.
        self.http: httpx.Client | RawClient = (
            httpx.Client(base_url=url, headers=HEADERS, timeout=120, transport=transport)
            if transport is not None
            else RawClient(url, HEADERS, timeout_s=120)
        )
        self.shared = shared
        self.rng = random.Random(seed)
        self.project = f"bench-{seed}"

    def close(self) -> None:
        self.http.close()

    def group(self, policy: str = "anti-affinity") -> str:
        guuid = str(uuid.uuid4())
        answer = self.http.post(
            "/berth/v1/server_groups",
            json={
                "name": f"g-{guuid[:8]}",
                "policy": policy,
                "uuid": guuid,
                "project_id": self.project,
                "user_id": "bench",
            },
        )
        if answer.status_code != 201:
            raise RuntimeError(f"group: {answer.status_code} {answer.text[:300]}")
        with self.shared.lock:
            self.shared.groups[guuid] = (policy, set())
        return guuid

    def schedule(
        self, body: Body, result: PhaseResult, group: str | None = None, expect_fail: bool = False
    ) -> None:
        named = f"cn-{self.rng.randrange(self.hosts):06d}" if expect_fail else None
        body = {"project_id": self.project, "user_id": "bench", **body}
        if named is not None:
            body["explain_hosts"] = [named]
        started = time.perf_counter()
        answer = self.http.post("/berth/v1/schedule", json=body)
        elapsed = (time.perf_counter() - started) * 1000.0
        result.requests += 1
        result.statuses[answer.status_code] += 1
        if answer.status_code not in (200, 409):
            if len(result.examples) < 5:
                result.examples.append(f"{answer.status_code}: {answer.text[:300]}")
            return
        data = answer.json()
        ok = answer.status_code == 200 and bool(data.get("placed"))
        missing = check_explanation(data, ok, named) if "explanation" in data else "no explanation"
        if missing is not None and "placed" in data:
            result.unexplained += 1
            if len(result.examples) < 5:
                result.examples.append(missing)
        result.latencies_ms.append(elapsed)
        if ok:
            result.placed += len(data["placements"])
            result.attempts[int(data.get("attempts", 1))] += 1
            if data.get("claimed"):  # a dry run (the warm-up) holds nothing
                self.shared.record(data, group)
        else:
            for stage in data.get("explanation", {}).get("stages", []):
                for reason, n in stage.get("reasons", {}).items():
                    result.reasons[f"{stage['stage']}: {reason}"] += int(n)
            if not expect_fail and len(result.examples) < 5:
                result.examples.append(data.get("errors", [{}])[0].get("detail", "")[:300])


Step = Callable[[Client, PhaseResult], None]


def _plain(c: Client, r: PhaseResult) -> None:
    c.schedule({"flavor": PLAIN}, r)


def _plain_x100(c: Client, r: PhaseResult) -> None:
    c.schedule({"flavor": PLAIN, "num_instances": 100}, r)


def _pinned(c: Client, r: PhaseResult) -> None:
    c.schedule({"flavor": PINNED}, r)


def _huge_sriov(c: Client, r: PhaseResult) -> None:
    size = c.rng.choice(("1GB", "2MB"))
    net = c.rng.choice(sched_cloud.PHYSNETS)
    c.schedule({"flavor": _huge(size), "ports": [{"id": "p0", "physnet": net}]}, r)


def _anti_affinity(c: Client, r: PhaseResult) -> None:
    g = c.group()
    for _ in range(10):
        c.schedule(
            {"flavor": PLAIN, "server_group": {"uuid": g, "policy": "anti-affinity"}}, r, group=g
        )


def _anti_affinity_x10(c: Client, r: PhaseResult) -> None:
    g = c.group()
    c.schedule(
        {
            "flavor": PLAIN,
            "num_instances": 10,
            "server_group": {"uuid": g, "policy": "anti-affinity"},
        },
        r,
        group=g,
    )


def _no_valid_host(c: Client, r: PhaseResult) -> None:
    kind = c.rng.randrange(3)
    if kind == 0:
        c.schedule({"flavor": {**PLAIN, "memory_mb": 1 << 20}}, r, expect_fail=True)
    elif kind == 1:
        c.schedule(
            {"flavor": _huge("1GB"), "ports": [{"physnet": "physnet9"}]}, r, expect_fail=True
        )
    else:
        c.schedule({"flavor": {**PINNED, "vcpus": 64}}, r, expect_fail=True)


def _mixed(c: Client, r: PhaseResult) -> None:
    """The issue's request mix, one request per step: plain, pinned, huge pages + SR-IOV,
    and an anti-affinity group of 10 placed in one request."""
    random_step = c.rng.choice((_plain, _plain, _pinned, _huge_sriov, _anti_affinity_x10))
    random_step(c, r)


def _warm_up(c: Client, r: PhaseResult) -> None:
    """Dry runs (nothing claimed): every worker's resident index takes in the freshly
    loaded cloud before anything is timed."""
    c.schedule({"flavor": PLAIN, "dry_run": True}, r)


PHASES: dict[str, Step] = {
    "plain": _plain,
    "plain_x100": _plain_x100,
    "pinned": _pinned,
    "hugepages_sriov": _huge_sriov,
    "anti_affinity": _anti_affinity,
    "anti_affinity_x10": _anti_affinity_x10,
    "mixed": _mixed,
    "no_valid_host": _no_valid_host,
}


def run_phase(
    url: str,
    shared: Shared,
    step: Step,
    clients: int,
    seconds: float,
    seed: int,
    hosts: int,
    transport: httpx.BaseTransport | None = None,
    steps: int | None = None,
) -> dict[str, Any]:
    """``clients`` threads looping ``step`` for ``seconds``; ``transport`` and ``steps``
    (at most this many steps per client) are for the harness's own tests: an in-process
    app instead of a server, and a fixed amount of work on a tiny cloud whatever the
    machine's speed."""
    results = [PhaseResult() for _ in range(clients)]
    deadline = time.perf_counter() + seconds
    barrier = threading.Barrier(clients + 1)

    def loop(k: int) -> None:
        client = Client(url, shared, seed * 100 + k, hosts, transport)
        try:
            barrier.wait()
            done = 0
            while time.perf_counter() < deadline and (steps is None or done < steps):
                step(client, results[k])
                done += 1
        finally:
            client.close()

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    total = PhaseResult()
    for r in results:
        total.merge(r)
    lat = latency_summary(total.latencies_ms)
    return {
        "clients": clients,
        "seconds": round(wall, 2),
        "requests": total.requests,
        "placements": total.placed,
        "placements_per_s": round(total.placed / wall, 1),
        "requests_per_s": round(total.requests / wall, 1),
        "latency_ms": lat,
        "statuses": {str(k): v for k, v in sorted(total.statuses.items())},
        "attempts": {str(k): v for k, v in sorted(total.attempts.items())},
        "unexplained_answers": total.unexplained,
        "failure_reasons": dict(total.reasons.most_common(8)),
        "examples": total.examples,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--nfv-share", type=float, default=0.2)
    ap.add_argument("--clients", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=8875)
    ap.add_argument("--pg-port", type=int, default=5432)
    ap.add_argument("--database-url", help="use this (empty) database instead of a fresh PG one")
    ap.add_argument("--url", help="an already running berth on --database-url (not started)")
    ap.add_argument("--phases", default=",".join(PHASES))
    ap.add_argument("--berth-bin", type=Path, default=REPO / ".venv" / "bin" / "berth")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    log = Path(tempfile.gettempdir()) / "berth-sched-bench.log"
    pg = Postgres(args.pg_port)
    db_url = args.database_url or pg.recreate("berth_sched_bench", log)
    server: Berth | None = None
    url = args.url
    if url is None:
        server = Berth(args.berth_bin, args.port, log, workers=args.workers)
        server.start(db_url)
        url = server.url
    report: dict[str, Any] = {
        "hosts": args.hosts,
        "nfv_share": args.nfv_share,
        "workers": args.workers,
        "database": db_url.split("://")[0],
    }
    try:
        cloud = sched_cloud.build(args.hosts, args.nfv_share)
        print(f"loading {args.hosts} hosts ...", file=sys.stderr, flush=True)
        report["load"] = sched_cloud.load(
            lambda: httpx.Client(base_url=url, headers=HEADERS, timeout=600), cloud
        )
        print(f"  {report['load']}", file=sys.stderr, flush=True)
        shared = Shared()
        sched_audit.analyze(db_url)
        warm = run_phase(url, shared, _warm_up, args.clients * 2, 5.0, 0, args.hosts)
        report["warm_up"] = {"requests": warm["requests"], "statuses": warm["statuses"]}
        report["phases"] = {}
        report["analyze_between_phases"] = db_url.startswith("postgresql")
        for i, name in enumerate(args.phases.split(",")):
            sched_audit.analyze(db_url)
            result = run_phase(
                url, shared, PHASES[name], args.clients, args.seconds, i + 1, args.hosts
            )
            report["phases"][name] = result
            print(
                f"  {name:18s} {result['placements_per_s']:8.1f} placements/s "
                f"p50={result['latency_ms'].get('p50_ms')} ms "
                f"p99={result['latency_ms'].get('p99_ms')} ms statuses={result['statuses']} "
                f"unexplained={result['unexplained_answers']}",
                file=sys.stderr,
                flush=True,
            )
        if server is not None:
            report["memory"] = process_memory(server.master_pid())
        print("auditing ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        report["audit"] = sched_audit.audit(db_url, shared.ledger, shared.groups)
        report["audit"]["seconds"] = round(time.perf_counter() - started, 2)
    finally:
        if server is not None:
            server.stop()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    audit = report["audit"]
    bad = sum(audit[k] for k in sched_audit.AUDIT_KEYS)
    unexplained = sum(p["unexplained_answers"] for p in report["phases"].values())
    return 1 if bad or unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
