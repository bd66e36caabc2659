"""Test fixtures: every store-backed test runs on SQLite, PostgreSQL and MariaDB.

The engines come from ``BERTH_TEST_POSTGRES_URL`` / ``BERTH_TEST_MYSQL_URL`` (``scripts/test``
starts throwaway servers when they are unset). A missing URL is an error, never a silent
skip; ``BERTH_TEST_ENGINES=sqlite`` narrows a local run explicitly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from berth.api.app import PlacementApp
from berth.api.state import ApiConfig
from berth.db import migrate
from berth.db.engine import Store, normalize_url
from berth.server import build_app

ALL_ENGINES = ("sqlite", "postgresql", "mysql")
ENGINES = tuple(
    e.strip()
    for e in os.environ.get("BERTH_TEST_ENGINES", ",".join(ALL_ENGINES)).split(",")
    if e.strip()
)
_URL_VARS = {"postgresql": "BERTH_TEST_POSTGRES_URL", "mysql": "BERTH_TEST_MYSQL_URL"}

# Tables emptied between tests, children first.
_DATA_TABLES = (
    # berth's own tables first: they refer to the Placement tables below
    "berth_guest_assignments",
    "berth_host_topologies",
    "berth_host_capabilities",
    "berth_server_group_members",
    "berth_server_groups",
    "berth_aggregate_metadata",
    "berth_aggregates",
    "berth_host_stats",
    "allocations",
    "consumers",
    "consumer_types",
    "resource_provider_traits",
    "resource_provider_aggregates",
    "placement_aggregates",
    "inventories",
)


def pytest_configure(config: pytest.Config) -> None:
    for engine in ENGINES:
        if engine not in ALL_ENGINES:
            raise pytest.UsageError(f"unknown engine {engine!r} in BERTH_TEST_ENGINES")
        var = _URL_VARS.get(engine)
        if var and not os.environ.get(var):
            raise pytest.UsageError(
                f"{var} is not set: run the suite with scripts/test (it starts throwaway "
                f"servers) or set BERTH_TEST_ENGINES to leave {engine} out explicitly"
            )


def _server_database(engine: str) -> str:
    """Create a private database for this test session on the engine's server."""
    admin_url = normalize_url(os.environ[_URL_VARS[engine]])
    name = f"berth_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if engine == "postgresql":
            conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'"))
        else:
            conn.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            )
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _server_urls() -> Iterator[dict[str, str]]:
    urls: dict[str, str] = {}
    for engine in ENGINES:
        if engine != "sqlite":
            urls[engine] = _server_database(engine)
            store = Store.from_url(urls[engine])
            migrate.upgrade(store)
            store.dispose()
    yield urls
    for engine, url in urls.items():
        admin = create_engine(
            normalize_url(os.environ[_URL_VARS[engine]]), isolation_level="AUTOCOMMIT"
        )
        name = make_url(url).database
        with admin.connect() as conn:
            if engine == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


def _empty(store: Store) -> None:
    with store.write() as conn:
        for table in _DATA_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(
            text("UPDATE resource_providers SET parent_provider_id = NULL, root_provider_id = NULL")
        )
        conn.execute(text("DELETE FROM resource_providers"))
        conn.execute(text("DELETE FROM resource_classes WHERE name LIKE 'CUSTOM%'"))
        conn.execute(text("DELETE FROM traits WHERE name LIKE 'CUSTOM%'"))


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, _server_urls: dict[str, str]) -> str:
    """A migrated, empty database on each engine in turn."""
    engine = request.param
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'berth.sqlite'}"
        store = Store.from_url(url)
        migrate.upgrade(store)
        store.dispose()
        return url
    url = _server_urls[engine]
    store = Store.from_url(url)
    _empty(store)
    store.dispose()
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.from_url(db_url)
    yield s
    s.dispose()


def make_client(app: PlacementApp, version: str = "latest", token: str = "admin") -> httpx.Client:
    return httpx.Client(
        transport=httpx.WSGITransport(app=app),
        base_url="http://berth.test",
        headers={
            "X-Auth-Token": token,
            "OpenStack-API-Version": f"placement {version}",
            "Accept": "application/json",
        },
    )


@pytest.fixture
def app(db_url: str) -> Iterator[PlacementApp]:
    application = build_app(db_url, ApiConfig())
    yield application
    application.state.store.dispose()


@pytest.fixture
def client(app: PlacementApp) -> Iterator[httpx.Client]:
    with make_client(app) as c:
        yield c
