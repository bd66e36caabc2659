"""Composition root: build the application from settings and serve it.

The only place that knows how the pieces fit: settings → Store (upgraded) → policy →
PlacementApp → gunicorn. Each gunicorn worker builds its own engine after fork, so no
database connection is ever shared between processes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth import malloc_tuning
from berth.api.app import PlacementApp
from berth.api.policy import Enforcer, load_policy_file
from berth.api.state import ApiConfig, AppState
from berth.db import migrate
from berth.db.engine import Store
from berth.query import resident
from berth.scheduler.config import SchedulerConfig
from berth.scheduler.config_file import check_names


@dataclass(frozen=True)
class ServerSettings:
    database_url: str
    host: str = "127.0.0.1"
    port: int = 8780
    workers: int = 2
    # Threads per worker: requests in flight at once. Scheduling requests in flight
    # together are decided as one batch (berth.scheduler.admission), so more threads
    # than cores is what lets a busy worker batch; the others wait on the database.
    threads: int = 64
    api: ApiConfig = field(default_factory=ApiConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)


def build_app(
    database_url: str,
    api: ApiConfig | None = None,
    *,
    upgrade: bool = True,
    scheduler: SchedulerConfig | None = None,
    threads: int | None = None,
) -> PlacementApp:
    api = api or ApiConfig()
    store = Store.from_url(database_url, connections=_connections(threads))
    if upgrade:
        migrate.upgrade(store)
    overrides = load_policy_file(api.policy_file) if api.policy_file else None
    enforcer = Enforcer(api.policy_defaults, overrides)
    state = AppState(
        store=store, policy=enforcer, config=api, scheduler=scheduler or SchedulerConfig()
    )
    return PlacementApp(state)


def serve(settings: ServerSettings) -> None:
    """Upgrade the schema once, then serve with gunicorn's pre-fork workers."""
    from gunicorn.app.base import BaseApplication

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"
    )
    if settings.api.policy_file is not None:
        # Fail fast on a bad file, before touching the database.
        Enforcer(settings.api.policy_defaults, load_policy_file(Path(settings.api.policy_file)))
    # Unknown filter or weigher names stop the server here, not in a worker's first request.
    check_names(settings.scheduler)
    migrate.upgrade(Store.from_url(settings.database_url))
    malloc_tuning.keep_large_buffers()  # inherited by every forked worker

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", settings.workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", settings.threads)
            self.cfg.set("timeout", 120)
            self.cfg.set("accesslog", None)
            # berth is managed by signals; a shared ~/.gunicorn control socket would make
            # several berth servers on one host step on each other.
            self.cfg.set("control_socket_disable", True)
            self.cfg.set("post_fork", _post_fork)
            self.cfg.set("post_worker_init", _warm_up)

        def load(self) -> Any:
            return build_app(
                settings.database_url,
                settings.api,
                upgrade=False,
                scheduler=settings.scheduler,
                threads=settings.threads,
            )

    _Gunicorn().run()


# Database connections one worker keeps at most (plus the engine's few for bursts):
# a thread that finds them all busy waits for one. Two workers stay well inside
# PostgreSQL's default max_connections of 100, however many threads they run; a
# scheduling batch uses one connection whatever its size.
MAX_POOL = 24


def _connections(threads: int | None) -> int | None:
    return None if threads is None else min(threads, MAX_POOL)


def _post_fork(server: Any, worker: Any) -> None:
    logging.getLogger("berth").info("worker %s ready", worker.pid)


def _warm_up(worker: Any) -> None:
    """Load the worker's resident candidate index before it takes requests, so the
    first GET /allocation_candidates does not pay for reading the whole cloud."""
    app = getattr(worker, "wsgi", None)
    if not isinstance(app, PlacementApp):
        return
    try:
        resident.for_store(app.state.store).warm()
    except Exception:  # the first request loads it instead
        logging.getLogger("berth").exception("warming the candidate index failed")
