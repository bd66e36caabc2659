"""Host capabilities: what a compute host's hypervisor is and can run.

One versioned JSON document per root provider (MEDIUMTEXT on MySQL, like the topology
document: a CPU's feature list and a host's stats can outgrow TEXT's 64 KiB). The foreign
key cascades, so deleting the host's provider takes its capabilities with it.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def upgrade() -> None:
    op.create_table(
        "berth_host_capabilities",
        sa.Column(
            "root_provider_id",
            sa.Integer,
            sa.ForeignKey(
                "resource_providers.id",
                ondelete="CASCADE",
                name="fk_berth_host_capabilities_root_provider_id_resource_providers",
            ),
            nullable=False,
        ),
        sa.Column("document", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.PrimaryKeyConstraint("root_provider_id", name="pk_berth_host_capabilities"),
        **_MYSQL,
    )


def downgrade() -> None:
    op.drop_table("berth_host_capabilities")
