"""payments phase 2: disputes, on-session attempts (3-D Secure), lookups by provider ids

Revision ID: 0012_payments_phase2
Revises: 0011_faults
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_payments_phase2"
down_revision: str | None = "0011_faults"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_dispute_id", sa.String(length=128), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=True),
        sa.Column("charge_id", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "provider_dispute_id", name="uq_disputes_provider_dispute"),
    )
    op.create_index("ix_disputes_invoice_id", "disputes", ["invoice_id"])
    with op.batch_alter_table("payment_attempts") as batch:
        batch.add_column(
            sa.Column("on_session", sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )
    op.create_index(
        "ix_payment_attempts_provider_charge_id", "payment_attempts", ["provider_charge_id"]
    )
    op.create_index("ix_credit_notes_provider_refund_id", "credit_notes", ["provider_refund_id"])


def downgrade() -> None:
    op.drop_index("ix_credit_notes_provider_refund_id", table_name="credit_notes")
    op.drop_index("ix_payment_attempts_provider_charge_id", table_name="payment_attempts")
    with op.batch_alter_table("payment_attempts") as batch:
        batch.drop_column("on_session")
    op.drop_index("ix_disputes_invoice_id", table_name="disputes")
    op.drop_table("disputes")
