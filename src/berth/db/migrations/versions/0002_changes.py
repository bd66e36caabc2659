"""The change log that keeps every worker's in-process index coherent with the database.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def upgrade() -> None:
    op.create_table(
        "berth_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("provider_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        **_MYSQL,
    )
    op.create_index("ix_berth_changes_created_at", "berth_changes", ["created_at"])


def downgrade() -> None:
    op.drop_table("berth_changes")
