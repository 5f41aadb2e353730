"""products: HR, Payroll, Pay, Books tables and idempotency keys

Revision ID: 0003_products
Revises: 0002_gateway
Create Date: 2026-11-28 00:06:10.173917
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_products"
down_revision: str | None = "0002_gateway"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "books_accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_books_accounts")),
        sa.UniqueConstraint("tenant_id", "code", name="uq_books_accounts_tenant_code"),
    )
    op.create_table(
        "books_journal_entries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=80), nullable=True),
        sa.Column("reverses_id", sa.String(length=40), nullable=True),
        sa.Column("voided_by_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_books_journal_entries")),
    )
    with op.batch_alter_table("books_journal_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_books_journal_entries_tenant_date", ["tenant_id", "entry_date"], unique=False
        )

    op.create_table(
        "hr_employees",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("employee_code", sa.String(length=64), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("designation", sa.String(length=100), nullable=True),
        sa.Column("employment_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("salary", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("hire_date", sa.Date(), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("bank_account_number", sa.String(length=34), nullable=True),
        sa.Column("bank_code", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_employees")),
        sa.UniqueConstraint("tenant_id", "employee_code", name="uq_hr_employees_tenant_code"),
    )
    with op.batch_alter_table("hr_employees", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hr_employees_tenant_status", ["tenant_id", "status"], unique=False
        )

    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "pay_payouts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("recipient_name", sa.String(length=200), nullable=False),
        sa.Column("account_number", sa.String(length=34), nullable=False),
        sa.Column("bank_code", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=140), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.String(length=200), nullable=True),
        sa.Column("payroll_run_id", sa.String(length=40), nullable=True),
        sa.Column("payslip_id", sa.String(length=40), nullable=True),
        sa.Column("debit_account_code", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_payouts")),
        sa.UniqueConstraint("tenant_id", "payslip_id", name="uq_pay_payouts_tenant_payslip"),
    )
    with op.batch_alter_table("pay_payouts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pay_payouts_status_claimed", ["status", "claimed_at"], unique=False
        )
        batch_op.create_index(
            "ix_pay_payouts_tenant_created", ["tenant_id", "created_at"], unique=False
        )

    op.create_table(
        "pay_wallets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_wallets")),
        sa.UniqueConstraint("tenant_id", "currency", name="uq_pay_wallets_tenant_currency"),
    )
    op.create_table(
        "payroll_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("period_month", sa.Integer(), nullable=False),
        sa.Column("period_year", sa.Integer(), nullable=False),
        sa.Column("pay_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("employee_count", sa.Integer(), nullable=False),
        sa.Column("total_gross", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("total_income_tax", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("total_pension", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("total_net", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("journal_entry_id", sa.String(length=40), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payroll_runs")),
    )
    with op.batch_alter_table("payroll_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payroll_runs_tenant_created", ["tenant_id", "created_at"], unique=False
        )

    op.create_table(
        "payroll_settings",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("rules_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_payroll_settings")),
    )
    op.create_table(
        "books_journal_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("account_code", sa.String(length=20), nullable=False),
        sa.Column("debit", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("credit", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["books_journal_entries.id"],
            name=op.f("fk_books_journal_lines_entry_id_books_journal_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_books_journal_lines")),
    )
    with op.batch_alter_table("books_journal_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_books_journal_lines_tenant_account", ["tenant_id", "account_code"], unique=False
        )

    op.create_table(
        "payroll_payslips",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("employee_id", sa.String(length=40), nullable=False),
        sa.Column("employee_code", sa.String(length=64), nullable=False),
        sa.Column("employee_name", sa.String(length=201), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gross", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("income_tax", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("pension", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("net", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("bank_account_number", sa.String(length=34), nullable=True),
        sa.Column("bank_code", sa.String(length=20), nullable=True),
        sa.Column("rules_source", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["payroll_runs.id"],
            name=op.f("fk_payroll_payslips_run_id_payroll_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payroll_payslips")),
    )
    with op.batch_alter_table("payroll_payslips", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payroll_payslips_tenant_run", ["tenant_id", "run_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("payroll_payslips", schema=None) as batch_op:
        batch_op.drop_index("ix_payroll_payslips_tenant_run")

    op.drop_table("payroll_payslips")
    with op.batch_alter_table("books_journal_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_books_journal_lines_tenant_account")

    op.drop_table("books_journal_lines")
    op.drop_table("payroll_settings")
    with op.batch_alter_table("payroll_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_payroll_runs_tenant_created")

    op.drop_table("payroll_runs")
    op.drop_table("pay_wallets")
    with op.batch_alter_table("pay_payouts", schema=None) as batch_op:
        batch_op.drop_index("ix_pay_payouts_tenant_created")
        batch_op.drop_index("ix_pay_payouts_status_claimed")

    op.drop_table("pay_payouts")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("hr_employees", schema=None) as batch_op:
        batch_op.drop_index("ix_hr_employees_tenant_status")

    op.drop_table("hr_employees")
    with op.batch_alter_table("books_journal_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_books_journal_entries_tenant_date")

    op.drop_table("books_journal_entries")
    op.drop_table("books_accounts")
