"""Scheduler state Nova keeps and Placement doesn't: server groups, aggregate names and
metadata, per-host build-failure counts.

Every reference to a provider or aggregate cascades (or, for a group member's host, is
nulled) when that row goes, so deleting a provider never trips over scheduler state.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def _provider_fk(name: str, ondelete: str) -> sa.ForeignKey:
    return sa.ForeignKey("resource_providers.id", name=name, ondelete=ondelete)


def _aggregate_fk(name: str) -> sa.ForeignKey:
    return sa.ForeignKey("placement_aggregates.id", name=name, ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "berth_server_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("max_server_per_host", sa.Integer, nullable=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.UniqueConstraint("uuid", name="uq_berth_server_groups_uuid"),
        sa.UniqueConstraint("project_id", "name", name="uq_berth_server_groups_project_id_name"),
        **_MYSQL,
    )
    op.create_table(
        "berth_server_group_members",
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey(
                "berth_server_groups.id", name="fk_berth_sg_members_group", ondelete="CASCADE"
            ),
            primary_key=True,
        ),
        sa.Column("consumer_uuid", sa.String(36), primary_key=True),
        sa.Column(
            "root_provider_id",
            sa.Integer,
            _provider_fk("fk_berth_sg_members_root", "SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime),
        **_MYSQL,
    )
    op.create_index(
        "ix_berth_server_group_members_consumer_uuid",
        "berth_server_group_members",
        ["consumer_uuid"],
    )
    op.create_index(
        "ix_berth_server_group_members_root_provider_id",
        "berth_server_group_members",
        ["root_provider_id"],
    )
    op.create_table(
        "berth_aggregates",
        sa.Column(
            "aggregate_id",
            sa.Integer,
            _aggregate_fk("fk_berth_aggregates_aggregate"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.UniqueConstraint("name", name="uq_berth_aggregates_name"),
        **_MYSQL,
    )
    op.create_table(
        "berth_aggregate_metadata",
        sa.Column(
            "aggregate_id",
            sa.Integer,
            _aggregate_fk("fk_berth_aggregate_metadata_aggregate"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
        **_MYSQL,
    )
    op.create_table(
        "berth_host_stats",
        sa.Column(
            "root_provider_id",
            sa.Integer,
            _provider_fk("fk_berth_host_stats_root", "CASCADE"),
            primary_key=True,
        ),
        sa.Column("failed_builds", sa.Integer, nullable=False),
        sa.Column("last_failure_at", sa.DateTime, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        **_MYSQL,
    )


def downgrade() -> None:
    for table in (
        "berth_host_stats",
        "berth_aggregate_metadata",
        "berth_aggregates",
        "berth_server_group_members",
        "berth_server_groups",
    ):
        op.drop_table(table)
