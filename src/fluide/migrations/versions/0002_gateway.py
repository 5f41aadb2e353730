"""gateway usage

Revision ID: 0002_gateway
Revises: 0001_identity
Create Date: 2026-11-27 23:58:51.563376
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_gateway"
down_revision: str | None = "0001_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "usage_daily",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("credential_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "credential_id", "day", "code", name=op.f("pk_usage_daily")
        ),
    )


def downgrade() -> None:

    op.drop_table("usage_daily")
