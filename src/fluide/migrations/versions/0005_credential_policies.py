"""credentials: policies (expiry, allowed networks, rate limit) and the expiry audit mark;
usage counted per hour (issue 21)

Revision ID: 0005_credential_policies
Revises: 0004_idempotency_retention
Create Date: 2026-12-07 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_credential_policies"
down_revision: str | None = "0004_idempotency_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("expires_at", "allowed_cidrs", "rate_limit", "expiry_audited_at")


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("allowed_cidrs", sa.Text(), nullable=True))
        batch.add_column(sa.Column("rate_limit", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("expiry_audited_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "usage_hourly",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("credential_id", sa.String(length=40), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "credential_id", "hour", "kind", "code", name=op.f("pk_usage_hourly")
        ),
    )
    op.create_index("ix_usage_hourly_tenant_hour", "usage_hourly", ["tenant_id", "hour"])


def downgrade() -> None:
    op.drop_index("ix_usage_hourly_tenant_hour", table_name="usage_hourly")
    op.drop_table("usage_hourly")
    with op.batch_alter_table("credentials") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
