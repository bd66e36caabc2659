"""Initial schema: providers, inventories, classes, traits, aggregates, consumers, allocations.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def _stamps() -> list[sa.Column[object]]:
    return [sa.Column("created_at", sa.DateTime), sa.Column("updated_at", sa.DateTime)]


def _named(table: str) -> list[Any]:
    """id primary key, a unique 255-char name and timestamps: classes, traits, types."""
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        *_stamps(),
        sa.UniqueConstraint("name", name=f"uq_{table}_name"),
    ]


def upgrade() -> None:
    op.create_table("resource_classes", *_named("resource_classes"), **_MYSQL)
    op.create_table("traits", *_named("traits"), **_MYSQL)
    op.create_table("consumer_types", *_named("consumer_types"), **_MYSQL)
    op.create_table(
        "resource_providers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("root_provider_id", sa.Integer, sa.ForeignKey("resource_providers.id")),
        sa.Column("parent_provider_id", sa.Integer, sa.ForeignKey("resource_providers.id")),
        *_stamps(),
        sa.UniqueConstraint("uuid", name="uq_resource_providers_uuid"),
        sa.UniqueConstraint("name", name="uq_resource_providers_name"),
        **_MYSQL,
    )
    op.create_index(
        "ix_resource_providers_root_provider_id", "resource_providers", ["root_provider_id"]
    )
    op.create_index(
        "ix_resource_providers_parent_provider_id", "resource_providers", ["parent_provider_id"]
    )
    op.create_table(
        "inventories",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "resource_provider_id",
            sa.Integer,
            sa.ForeignKey("resource_providers.id"),
            nullable=False,
        ),
        sa.Column(
            "resource_class_id", sa.Integer, sa.ForeignKey("resource_classes.id"), nullable=False
        ),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.Column("min_unit", sa.Integer, nullable=False),
        sa.Column("max_unit", sa.Integer, nullable=False),
        sa.Column("step_size", sa.Integer, nullable=False),
        sa.Column("allocation_ratio", sa.Float, nullable=False),
        *_stamps(),
        sa.UniqueConstraint(
            "resource_provider_id",
            "resource_class_id",
            name="uq_inventories_resource_provider_id_resource_class_id",
        ),
        **_MYSQL,
    )
    op.create_index("ix_inventories_resource_class_id", "inventories", ["resource_class_id"])
    op.create_table(
        "consumers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("consumer_type_id", sa.Integer, sa.ForeignKey("consumer_types.id")),
        *_stamps(),
        sa.UniqueConstraint("uuid", name="uq_consumers_uuid"),
        **_MYSQL,
    )
    op.create_index("ix_consumers_project_id_user_id", "consumers", ["project_id", "user_id"])
    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "resource_provider_id",
            sa.Integer,
            sa.ForeignKey("resource_providers.id"),
            nullable=False,
        ),
        sa.Column("consumer_id", sa.String(36), nullable=False),
        sa.Column(
            "resource_class_id", sa.Integer, sa.ForeignKey("resource_classes.id"), nullable=False
        ),
        sa.Column("used", sa.Integer, nullable=False),
        *_stamps(),
        **_MYSQL,
    )
    op.create_index(
        "ix_allocations_resource_provider_id_resource_class_id",
        "allocations",
        ["resource_provider_id", "resource_class_id"],
    )
    op.create_index("ix_allocations_consumer_id", "allocations", ["consumer_id"])
    op.create_index("ix_allocations_resource_class_id", "allocations", ["resource_class_id"])
    op.create_table(
        "placement_aggregates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.UniqueConstraint("uuid", name="uq_placement_aggregates_uuid"),
        **_MYSQL,
    )
    op.create_table(
        "resource_provider_aggregates",
        sa.Column(
            "resource_provider_id",
            sa.Integer,
            sa.ForeignKey("resource_providers.id"),
            primary_key=True,
        ),
        sa.Column(
            "aggregate_id", sa.Integer, sa.ForeignKey("placement_aggregates.id"), primary_key=True
        ),
        **_MYSQL,
    )
    op.create_index(
        "ix_resource_provider_aggregates_aggregate_id",
        "resource_provider_aggregates",
        ["aggregate_id"],
    )
    op.create_table(
        "resource_provider_traits",
        sa.Column(
            "resource_provider_id",
            sa.Integer,
            sa.ForeignKey("resource_providers.id"),
            primary_key=True,
        ),
        sa.Column("trait_id", sa.Integer, sa.ForeignKey("traits.id"), primary_key=True),
        **_MYSQL,
    )
    op.create_index(
        "ix_resource_provider_traits_trait_id", "resource_provider_traits", ["trait_id"]
    )


def downgrade() -> None:
    for table in (
        "resource_provider_traits",
        "resource_provider_aggregates",
        "placement_aggregates",
        "allocations",
        "consumers",
        "inventories",
        "resource_providers",
        "consumer_types",
        "traits",
        "resource_classes",
    ):
        op.drop_table(table)
