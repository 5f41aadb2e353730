"""idempotency keys: index on completed_at for the retention purge

Revision ID: 0004_idempotency_retention
Revises: 0003_products
Create Date: 2026-11-28 03:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_idempotency_retention"
down_revision: str | None = "0003_products"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_idempotency_keys_completed_at", "idempotency_keys", ["completed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_completed_at", table_name="idempotency_keys")
