"""Bring a database to the current schema and seed the standard names.

``berth db upgrade`` and ``berth serve`` both call ``upgrade``; it is idempotent, so a
second worker or a restarted server finds nothing to do. Standard resource classes and
traits are synced on every upgrade because a newer ``os-traits`` may add names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, insert, select

from berth.db import tables
from berth.db.engine import Store
from berth.model.names import standard_resource_classes, standard_traits

_HERE = Path(__file__).parent / "migrations"


def _alembic_config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["connection"] = conn
    return cfg


def upgrade(store: Store) -> None:
    with store.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    with store.write() as conn:
        sync_standard_names(conn)


def sync_standard_names(conn: Connection) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    have = set(conn.scalars(select(tables.resource_classes.c.name)))
    missing = [n for n in standard_resource_classes() if n not in have]
    if missing:
        conn.execute(
            insert(tables.resource_classes),
            [{"name": n, "created_at": now} for n in missing],
        )
    have = set(conn.scalars(select(tables.traits.c.name)))
    missing_traits = sorted(standard_traits() - have)
    if missing_traits:
        conn.execute(
            insert(tables.traits), [{"name": n, "created_at": now} for n in missing_traits]
        )
