"""Real ``berth serve`` processes for tests that need more than one process.

The in-process WSGI client cannot show what only several processes can: that a write
answered by one gunicorn worker is visible to every other worker (and to other servers on
the same database) at once, and that concurrent claims stay within capacity. These
helpers start servers on free ports, wait until every worker is up, tell which worker
answered a request (through /proc, so the tests can prove they crossed workers), and
always stop the whole process group, printing the logs when something went wrong.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BERTH = Path(sys.executable).parent / "berth"
VERSION = "1.39"
READY_TIMEOUT = 20.0
HEADERS = {
    "X-Auth-Token": "admin",
    "OpenStack-API-Version": f"placement {VERSION}",
    "Accept": "application/json",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One ``berth serve`` master process (its own session/process group) and its log."""

    db_url: str
    log_path: Path
    workers: int = 2
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _workers_by_port: dict[int, int | None] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(BERTH),
                    "serve",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--database-url",
                    self.db_url,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> bool:
        """GET / answers 200 and every worker has booted (so requests can reach each)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                ok = httpx.get(self.url + "/", timeout=2.0).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok and len(self.worker_pids()) >= self.workers:
                return True
            time.sleep(0.05)
        return False

    def worker_pids(self) -> set[int]:
        """The master's live children (gunicorn workers), read from /proc."""
        if self.proc is None:
            return set()
        pids: set[int] = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # The command name may contain spaces/parens: fields follow the last ')'.
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[1]) == self.proc.pid:
                pids.add(int(entry))
        return pids

    def worker_for_client_port(self, client_port: int) -> int | None:
        """Which worker holds the accepted socket of the connection from ``client_port``."""
        if client_port in self._workers_by_port:
            return self._workers_by_port[client_port]
        inode = _server_socket_inode(self.port, client_port)
        found: int | None = None
        if inode is not None:
            target = f"socket:[{inode}]"
            for pid in self.worker_pids():
                with contextlib.suppress(OSError):
                    fds = os.listdir(f"/proc/{pid}/fd")
                    if any(_readlink(f"/proc/{pid}/fd/{fd}") == target for fd in fds):
                        found = pid
                        break
        if found is not None:
            self._workers_by_port[client_port] = found
        return found

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        """TERM the process group, then KILL whatever is left; never leaves orphans."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _server_socket_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server-side socket of an established 127.0.0.1 connection."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local_port = int(parts[1].rsplit(":", 1)[1], 16)
            remote_port = int(parts[2].rsplit(":", 1)[1], 16)
            if local_port == server_port and remote_port == client_port and parts[3] == "01":
                return int(parts[9])
    return None


def start_servers(db_url: str, log_dir: Path, count: int, workers: int = 2) -> list[Server]:
    """Start ``count`` servers on one database and wait until all are ready.

    A server that dies at start (e.g. its probed port was taken meanwhile) is retried on
    a new port; if one still cannot start, everything started is stopped and the logs
    are part of the error.
    """
    servers = [
        Server(db_url=db_url, log_path=log_dir / f"server{i}.log", workers=workers)
        for i in range(count)
    ]
    try:
        for s in servers:
            s.start()
        for s in servers:
            for _attempt in range(3):
                if s.wait_ready():
                    break
                s.stop()
                if "Connection in use" not in s.log():
                    raise RuntimeError(f"berth serve did not become ready:\n{s.log()}")
                s.start()  # the probed port was taken meanwhile: try another
            else:
                raise RuntimeError(f"berth serve did not become ready:\n{s.log()}")
    except BaseException:
        stop_all(servers)
        raise
    return servers


def stop_all(servers: list[Server]) -> None:
    """Stop several servers in parallel (a graceful gunicorn stop takes about a second)."""
    for s in servers:
        s.terminate()
    for s in servers:
        s.stop()


def tracebacks(servers: list[Server]) -> str:
    return "\n".join(s.log() for s in servers if "Traceback" in s.log())


@contextlib.contextmanager
def running(
    db_url: str,
    log_dir: Path,
    count: int = 2,
    workers: int = 2,
    *,
    show_logs: Callable[[], bool] | None = None,
) -> Iterator[list[Server]]:
    """Servers for the duration of the block; stopped (and logs printed) on the way out.

    ``show_logs`` is a callable telling, after the block, whether the logs should be
    printed (a failed test); they are printed anyway when a server logged a traceback.
    """
    servers = start_servers(db_url, log_dir, count, workers)
    try:
        yield servers
    finally:
        stop_all(servers)
        if (show_logs is not None and show_logs()) or tracebacks(servers):
            for s in servers:
                print(f"----- {s.log_path.name} (port {s.port})", file=sys.stderr)
                print(s.log(), file=sys.stderr)


class Lane:
    """One keep-alive HTTP connection to one server; knows which worker answered.

    ``max_connections=1`` keeps every request of a lane on one TCP connection, which
    gunicorn's gthread worker keeps for as long as it stays alive, so a lane normally
    sticks to one worker; ``worker`` is re-read from /proc whenever the connection changes.
    """

    def __init__(self, server: Server, name: str) -> None:
        self.server = server
        self.name = name
        self.client = httpx.Client(
            base_url=server.url,
            headers=HEADERS,
            timeout=60.0,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self.worker: int | None = None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        resp = self.client.request(method, path, **kwargs)
        self._note_worker(resp)
        return resp

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def _note_worker(self, resp: httpx.Response) -> None:
        stream = resp.extensions.get("network_stream")
        try:
            port = int(stream.get_extra_info("client_addr")[1]) if stream else None
        except (OSError, TypeError):
            port = None
        self.worker = self.server.worker_for_client_port(port) if port else None

    @property
    def where(self) -> tuple[int, int | None]:
        """(server port, worker pid) of the last answer."""
        return (self.server.port, self.worker)

    def close(self) -> None:
        self.client.close()


def lanes_on_every_worker(server: Server, per_worker: int = 1, timeout: float = 10.0) -> list[Lane]:
    """Open connections until each worker of ``server`` holds ``per_worker`` of them.

    The kernel hands a new connection to whichever worker accepts first (and a worker
    still loading the app accepts nothing), so it may take a few; surplus connections
    are closed at once. Returns lanes sorted by worker.
    """
    kept: dict[int, list[Lane]] = {pid: [] for pid in server.worker_pids()}
    deadline = time.monotonic() + timeout
    tries = 0
    while any(len(v) < per_worker for v in kept.values()) and time.monotonic() < deadline:
        tries += 1
        lane = Lane(server, f"{server.port}#{tries}")
        resp = lane.get("/")
        assert resp.status_code == 200, resp.text
        if lane.worker in kept and len(kept[lane.worker]) < per_worker:
            kept[lane.worker].append(lane)
        else:
            lane.close()
            if tries % 8 == 0:
                time.sleep(0.05)
    chosen = [lane for pid in sorted(kept) for lane in kept[pid]]
    missing = [pid for pid, v in kept.items() if len(v) < per_worker]
    if missing:
        for lane in chosen:
            lane.close()
        raise AssertionError(f"no connection reached worker(s) {missing} in {tries} tries")
    return chosen
