"""The schema: Placement's resource model as tables.

One row per provider, inventory, allocation, consumer, trait and aggregate; the trees are
``parent_provider_id``/``root_provider_id`` columns. ``resource_providers.generation`` and
``consumers.generation`` are the compare-and-swap counters every concurrent write goes
through. Names are compared byte-for-byte on every engine (``utf8mb4_bin`` on MySQL), as
Placement's API treats them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.mysql import MEDIUMTEXT

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def _timestamps() -> list[Column[Any]]:
    return [
        Column("created_at", DateTime, nullable=True),
        Column("updated_at", DateTime, nullable=True),
    ]


resource_classes = Table(
    "resource_classes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    *_timestamps(),
    UniqueConstraint("name"),
    **_MYSQL,
)

traits = Table(
    "traits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    *_timestamps(),
    UniqueConstraint("name"),
    **_MYSQL,
)

resource_providers = Table(
    "resource_providers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False),
    Column("name", String(200), nullable=False),
    Column("generation", Integer, nullable=False, default=0),
    Column("root_provider_id", Integer, ForeignKey("resource_providers.id"), nullable=True),
    Column("parent_provider_id", Integer, ForeignKey("resource_providers.id"), nullable=True),
    *_timestamps(),
    UniqueConstraint("uuid"),
    UniqueConstraint("name"),
    Index(None, "root_provider_id"),
    Index(None, "parent_provider_id"),
    **_MYSQL,
)

inventories = Table(
    "inventories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("resource_provider_id", Integer, ForeignKey("resource_providers.id"), nullable=False),
    Column("resource_class_id", Integer, ForeignKey("resource_classes.id"), nullable=False),
    Column("total", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("min_unit", Integer, nullable=False),
    Column("max_unit", Integer, nullable=False),
    Column("step_size", Integer, nullable=False),
    Column("allocation_ratio", Float, nullable=False),
    *_timestamps(),
    UniqueConstraint("resource_provider_id", "resource_class_id"),
    Index(None, "resource_class_id"),
    **_MYSQL,
)

consumer_types = Table(
    "consumer_types",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    *_timestamps(),
    UniqueConstraint("name"),
    **_MYSQL,
)

consumers = Table(
    "consumers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False),
    Column("project_id", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("generation", Integer, nullable=False, default=0),
    Column("consumer_type_id", Integer, ForeignKey("consumer_types.id"), nullable=True),
    *_timestamps(),
    UniqueConstraint("uuid"),
    Index(None, "project_id", "user_id"),
    **_MYSQL,
)

allocations = Table(
    "allocations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("resource_provider_id", Integer, ForeignKey("resource_providers.id"), nullable=False),
    Column("consumer_id", String(36), nullable=False),
    Column("resource_class_id", Integer, ForeignKey("resource_classes.id"), nullable=False),
    Column("used", Integer, nullable=False),
    *_timestamps(),
    Index(None, "resource_provider_id", "resource_class_id"),
    Index(None, "consumer_id"),
    Index(None, "resource_class_id"),
    **_MYSQL,
)

placement_aggregates = Table(
    "placement_aggregates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False),
    UniqueConstraint("uuid"),
    **_MYSQL,
)

resource_provider_aggregates = Table(
    "resource_provider_aggregates",
    metadata,
    Column(
        "resource_provider_id",
        Integer,
        ForeignKey("resource_providers.id"),
        primary_key=True,
    ),
    Column("aggregate_id", Integer, ForeignKey("placement_aggregates.id"), primary_key=True),
    Index(None, "aggregate_id"),
    **_MYSQL,
)

resource_provider_traits = Table(
    "resource_provider_traits",
    metadata,
    Column(
        "resource_provider_id",
        Integer,
        ForeignKey("resource_providers.id"),
        primary_key=True,
    ),
    Column("trait_id", Integer, ForeignKey("traits.id"), primary_key=True),
    Index(None, "trait_id"),
    **_MYSQL,
)

# The change log: one row per provider a committed write touched (provider_id NULL: the
# whole cloud may have changed). Every API worker polls it to keep its in-process index
# coherent with the database; rows are written in the same transaction as the change.
changes = Table(
    "berth_changes",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("provider_id", Integer, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Index(None, "created_at"),
    **_MYSQL,
)


def now() -> datetime:
    """The timestamp stored in created_at/updated_at: naive UTC, identical on every engine."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _document() -> Column[Any]:
    """A JSON document as text; MEDIUMTEXT on MySQL, whose TEXT stops at 64 KiB."""
    return Column("document", Text().with_variant(MEDIUMTEXT(), "mysql"), nullable=False)


# berth's NUMA/PCI detail next to Placement's model: one versioned JSON document per
# compute host (see berth.db.topology). Deleting the root provider takes the document.
host_topologies = Table(
    "berth_host_topologies",
    metadata,
    Column(
        "root_provider_id",
        Integer,
        ForeignKey("resource_providers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    _document(),
    Column("generation", Integer, nullable=False),
    *_timestamps(),
    **_MYSQL,
)

# What a compute host's hypervisor is and can run (berth.db.host_capabilities): one
# versioned JSON document per host, read by the scheduler's capability and image filters.
host_capabilities = Table(
    "berth_host_capabilities",
    metadata,
    Column(
        "root_provider_id",
        Integer,
        ForeignKey("resource_providers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    _document(),
    Column("generation", Integer, nullable=False),
    *_timestamps(),
    **_MYSQL,
)

# What each guest got from its host's topology (pinned CPUs, cells, pages, devices),
# written with its allocations. Deleting the consumer row removes it (ON DELETE CASCADE).
guest_assignments = Table(
    "berth_guest_assignments",
    metadata,
    Column(
        "consumer_id",
        Integer,
        ForeignKey("consumers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "root_provider_id",
        Integer,
        ForeignKey("resource_providers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    _document(),
    Column("created_at", DateTime, nullable=True),
    Index(None, "root_provider_id"),
    **_MYSQL,
)

# Scheduler state Nova keeps and Placement doesn't (berth.db.server_groups,
# .aggregate_metadata, .host_stats). The resident index never reads these tables, so
# their writers leave the change log alone. Provider references cascade (a group member's
# host is nulled instead), so deleting a provider never trips over them.
server_groups = Table(
    "berth_server_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False),
    Column("name", String(255), nullable=False),
    Column("project_id", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("policy", String(32), nullable=False),
    Column("max_server_per_host", Integer, nullable=True),
    Column("generation", Integer, nullable=False, default=0),
    *_timestamps(),
    UniqueConstraint("uuid"),
    UniqueConstraint("project_id", "name"),
    **_MYSQL,
)

server_group_members = Table(
    "berth_server_group_members",
    metadata,
    Column(
        "group_id",
        Integer,
        ForeignKey("berth_server_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("consumer_uuid", String(36), primary_key=True),
    Column(
        "root_provider_id",
        Integer,
        ForeignKey("resource_providers.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("created_at", DateTime, nullable=True),
    Index(None, "consumer_uuid"),
    Index(None, "root_provider_id"),
    **_MYSQL,
)

# A Nova aggregate's name (one row per aggregate that has been given one) and its
# metadata; the uuid is Placement's (placement_aggregates).
aggregate_names = Table(
    "berth_aggregates",
    metadata,
    Column(
        "aggregate_id",
        Integer,
        ForeignKey("placement_aggregates.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(255), nullable=False),
    *_timestamps(),
    UniqueConstraint("name"),
    **_MYSQL,
)

aggregate_metadata = Table(
    "berth_aggregate_metadata",
    metadata,
    Column(
        "aggregate_id",
        Integer,
        ForeignKey("placement_aggregates.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(255), primary_key=True),
    Column("value", String(255), nullable=False),
    **_MYSQL,
)

host_stats = Table(
    "berth_host_stats",
    metadata,
    Column(
        "root_provider_id",
        Integer,
        ForeignKey("resource_providers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("failed_builds", Integer, nullable=False, default=0),
    Column("last_failure_at", DateTime, nullable=True),
    Column("updated_at", DateTime, nullable=True),
    **_MYSQL,
)
