"""partner tenancy: tenant kind, workspaces and client companies (issue 20, DESIGN §3.7)

Revision ID: 0006_partner_tenancy
Revises: 0005_credential_policies
Create Date: 2026-12-07 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_partner_tenancy"
down_revision: str | None = "0005_credential_policies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="BUSINESS")
        )
    op.create_table(
        "partner_workspaces",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_partner_workspaces_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_workspaces")),
    )
    op.create_index(
        op.f("ix_partner_workspaces_tenant_id"), "partner_workspaces", ["tenant_id"], unique=False
    )
    op.create_table(
        "partner_companies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_partner_companies_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["partner_workspaces.id"],
            name=op.f("fk_partner_companies_workspace_id_partner_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_companies")),
    )
    op.create_index(
        "ix_partner_companies_workspace",
        "partner_companies",
        ["workspace_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_partner_companies_workspace", table_name="partner_companies")
    op.drop_table("partner_companies")
    op.drop_index(op.f("ix_partner_workspaces_tenant_id"), table_name="partner_workspaces")
    op.drop_table("partner_workspaces")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("kind")
