"""Starting, stopping and measuring the two servers under test.

The anchor (OpenStack Placement 16.0.0) is driven only through the shared start/stop
scripts; berth is a subprocess in its own session so it and its gunicorn workers can be
stopped by process group id. Both run 2 workers on PostgreSQL. Memory is read from /proc
for the master and each worker (RSS, and PSS which splits pages shared after fork).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench_http import JsonObject

ANCHOR_PORT = 8790
ANCHOR_PG_PORT = 55432


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f}s")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        out += [int(x) for x in task.read_text().split()]
    return sorted(set(out))


def _memory_mb(pid: int) -> JsonObject:
    info: JsonObject = {"pid": pid}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                info["rss_mb"] = round(int(line.split()[1]) / 1024, 1)
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                info["pss_mb"] = round(int(line.split()[1]) / 1024, 1)
    except OSError as exc:
        info["error"] = str(exc)
    return info


def process_memory(master_pid: int | None) -> JsonObject:
    """RSS/PSS of a pre-fork server: the master and each worker process."""
    if master_pid is None:
        return {"error": "no master pid"}
    workers = [_memory_mb(pid) for pid in _children(master_pid)]
    return {
        "master": _memory_mb(master_pid),
        "workers": workers,
        "workers_rss_mb_total": round(sum(w.get("rss_mb", 0.0) for w in workers), 1),
        "workers_pss_mb_total": round(sum(w.get("pss_mb", 0.0) for w in workers), 1),
    }


def _run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}); see {log}")


@dataclass
class Postgres:
    """A PostgreSQL server reachable as user ``postgres`` with trust auth."""

    port: int
    host: str = "127.0.0.1"

    def running(self) -> bool:
        cmd = ["pg_isready", "-q", "-h", self.host, "-p", str(self.port)]
        return subprocess.run(cmd, check=False).returncode == 0

    def psql(self, sql: str, log: Path) -> None:
        cmd = ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", str(self.port)]
        _run([*cmd, "-U", "postgres", "-d", "postgres", "-c", sql], log)

    def recreate(self, name: str, log: Path) -> str:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', log)
        self.psql(f'CREATE DATABASE "{name}"', log)
        return f"postgresql://postgres@{self.host}:{self.port}/{name}"

    def drop(self, name: str, log: Path) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', log)


class Anchor:
    """The real Placement, via ``shared/anchor/{start,stop}.sh`` (2 gunicorn sync workers)."""

    def __init__(self, scripts: Path, log: Path, workers: int = 2) -> None:
        self.scripts = scripts
        self.log = log
        self.workers = workers
        self.dir = Path(os.environ.get("ANCHOR_DIR", "/tmp/berth-anchor"))
        self.pg = Postgres(ANCHOR_PG_PORT)
        self.pg_was_running = self.pg.running()
        self.started = False
        self.url = f"http://127.0.0.1:{ANCHOR_PORT}"

    def ensure_free(self) -> None:
        if port_open(ANCHOR_PORT):
            raise RuntimeError(
                f"port {ANCHOR_PORT} is in use (an anchor someone else started?): "
                "refusing to reset its database; stop it first"
            )

    def ensure_pg(self) -> None:
        """Bring up the anchor's PostgreSQL (start.sh does it) without serving Placement."""
        if not self.pg.running():
            self.start(reset=False)
            self.stop()

    def start(self, reset: bool) -> None:
        env = dict(os.environ, PLACEMENT_WORKERS=str(self.workers), PLACEMENT_PORT=str(ANCHOR_PORT))
        self.started = True
        _run([str(self.scripts / "start.sh"), *(["--reset-db"] if reset else [])], self.log, env)
        wait_http(self.url + "/", 60)

    def stop(self) -> None:
        """Stop the gunicorn server, keep PostgreSQL (berth may use the same cluster)."""
        if self.started:
            _run([str(self.scripts / "stop.sh"), "--keep-pg"], self.log)
            if port_open(ANCHOR_PORT):
                raise RuntimeError(f"the anchor still listens on {ANCHOR_PORT} after stop.sh")

    def shutdown(self) -> None:
        """Final cleanup: stop Placement, and PostgreSQL too if it was not running before."""
        if not self.started:
            return
        args = [] if not self.pg_was_running else ["--keep-pg"]
        for _ in range(2):  # stop.sh waits 10s for gunicorn, then kills it: try twice
            _run([str(self.scripts / "stop.sh"), *args], self.log)
            if not port_open(ANCHOR_PORT):
                break
            time.sleep(2)
        else:
            raise RuntimeError(f"the anchor still listens on {ANCHOR_PORT} after stop.sh")
        self.started = False

    def master_pid(self) -> int | None:
        pidfile = self.dir / "run" / "main.pid"
        return int(pidfile.read_text().strip()) if pidfile.exists() else None


class Berth:
    """``berth serve`` as a subprocess in its own session (stopped by its process group)."""

    def __init__(self, binary: Path, port: int, log: Path, workers: int = 2) -> None:
        self.binary = binary
        self.port = port
        self.log = log
        self.workers = workers
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, database_url: str) -> None:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already in use; pick another --berth-port")
        cmd = [str(self.binary), "serve", "--port", str(self.port), "--workers", str(self.workers)]
        cmd += ["--database-url", database_url]
        with self.log.open("a") as out:
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_http(self.url + "/", 120)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for _ in range(40):  # workers outliving their master: give them 10s, then kill
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.25)
        os.killpg(proc.pid, signal.SIGKILL)

    def master_pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None
