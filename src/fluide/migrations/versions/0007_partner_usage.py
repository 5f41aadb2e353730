"""partner usage: usage_hourly counts per acting client company (issue 20, DESIGN §3.7)

Revision ID: 0007_partner_usage
Revises: 0006_partner_tenancy
Create Date: 2026-12-07 15:00:00.000000

``company_id`` joins the primary key ("" for a call that acts for no company), so the gateway's
upsert adds each company's counts apart. Down adds every company's counts back into the
partner's own row of the same hour, credential, kind and code: no count is lost either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_partner_usage"
down_revision: str | None = "0006_partner_tenancy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ["tenant_id", "credential_id", "hour", "kind", "code"]


def upgrade() -> None:
    with op.batch_alter_table("usage_hourly", recreate="always") as batch:
        batch.add_column(
            sa.Column("company_id", sa.String(length=40), nullable=False, server_default="")
        )
        batch.drop_constraint("pk_usage_hourly", type_="primary")
        batch.create_primary_key("pk_usage_hourly", [*KEY, "company_id"])


def downgrade() -> None:
    # Sum the companies' rows into one per old key, aside; empty the table; narrow its key;
    # put the sums back.
    op.create_table(
        "usage_hourly_down",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("credential_id", sa.String(length=40), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.execute(
        "INSERT INTO usage_hourly_down (tenant_id, credential_id, hour, kind, code, count) "
        "SELECT tenant_id, credential_id, hour, kind, code, SUM(count) FROM usage_hourly "
        "GROUP BY tenant_id, credential_id, hour, kind, code"
    )
    op.execute("DELETE FROM usage_hourly")
    with op.batch_alter_table("usage_hourly", recreate="always") as batch:
        batch.drop_constraint("pk_usage_hourly", type_="primary")
        batch.drop_column("company_id")
        batch.create_primary_key("pk_usage_hourly", KEY)
    op.execute(
        "INSERT INTO usage_hourly (tenant_id, credential_id, hour, kind, code, count) "
        "SELECT tenant_id, credential_id, hour, kind, code, count FROM usage_hourly_down"
    )
    op.drop_table("usage_hourly_down")
