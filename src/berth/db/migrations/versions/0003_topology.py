"""Host NUMA/PCI topologies and the per-guest assignments claimed against them.

Both hold a versioned JSON document as text (MEDIUMTEXT on MySQL: a host with thousands
of VFs outgrows TEXT's 64 KiB). Their foreign keys cascade, so deleting a root provider
or a consumer row (which berth does when a consumer's last allocation goes) takes the
dependent document with it, and no other writer needs to know these tables exist.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def _document() -> sa.Column[Any]:
    text = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")
    return sa.Column("document", text, nullable=False)


def upgrade() -> None:
    op.create_table(
        "berth_host_topologies",
        sa.Column(
            "root_provider_id",
            sa.Integer,
            sa.ForeignKey(
                "resource_providers.id",
                ondelete="CASCADE",
                name="fk_berth_host_topologies_root_provider_id_resource_providers",
            ),
            nullable=False,
        ),
        _document(),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.PrimaryKeyConstraint("root_provider_id", name="pk_berth_host_topologies"),
        **_MYSQL,
    )
    op.create_table(
        "berth_guest_assignments",
        sa.Column(
            "consumer_id",
            sa.Integer,
            sa.ForeignKey(
                "consumers.id",
                ondelete="CASCADE",
                name="fk_berth_guest_assignments_consumer_id_consumers",
            ),
            nullable=False,
        ),
        sa.Column(
            "root_provider_id",
            sa.Integer,
            sa.ForeignKey(
                "resource_providers.id",
                ondelete="CASCADE",
                name="fk_berth_guest_assignments_root_provider_id_resource_providers",
            ),
            nullable=False,
        ),
        _document(),
        sa.Column("created_at", sa.DateTime),
        sa.PrimaryKeyConstraint("consumer_id", name="pk_berth_guest_assignments"),
        **_MYSQL,
    )
    op.create_index(
        "ix_berth_guest_assignments_root_provider_id",
        "berth_guest_assignments",
        ["root_provider_id"],
    )


def downgrade() -> None:
    op.drop_table("berth_guest_assignments")
    op.drop_table("berth_host_topologies")
