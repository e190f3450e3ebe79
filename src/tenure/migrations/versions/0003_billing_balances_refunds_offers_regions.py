"""billing: balances refunds offers regions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 23:22:44.345370
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "balance_transactions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=True),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balance_transactions")),
    )
    with op.batch_alter_table("balance_transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_balance_transactions_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "intro_redemptions",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "family", name=op.f("pk_intro_redemptions")),
    )
    op.create_table(
        "promo_codes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("percent_off", sa.String(length=16), nullable=True),
        sa.Column("amount_off", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("duration", sa.String(length=16), nullable=False),
        sa.Column("duration_periods", sa.Integer(), nullable=True),
        sa.Column(
            "products",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "markets",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("times_redeemed", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promo_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_promo_codes_code")),
    )
    op.create_table(
        "sandbox_refunds",
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("refund_id", sa.String(length=40), nullable=False),
        sa.Column("charge_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_sandbox_refunds")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_sandbox_refunds_refund_id")),
    )
    with op.batch_alter_table("sandbox_refunds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sandbox_refunds_charge_id"), ["charge_id"], unique=False
        )

    op.create_table(
        "promo_redemptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("promo_code_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("periods_remaining", sa.Integer(), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["promo_code_id"],
            ["promo_codes.id"],
            name=op.f("fk_promo_redemptions_promo_code_id_promo_codes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promo_redemptions")),
        sa.UniqueConstraint("promo_code_id", "customer_id", name="uq_promo_redemptions_customer"),
    )
    with op.batch_alter_table("promo_redemptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_promo_redemptions_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "customer_balances",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_customer_balances_balance_not_negative")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_balances_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_balances")),
    )
    op.create_table(
        "credit_notes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("charge_id", sa.String(length=64), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provider_refund_id", sa.String(length=64), nullable=True),
        sa.Column("failure_message", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_credit_notes_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_notes")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_credit_notes_idempotency_key")),
    )
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_notes_invoice_id"), ["invoice_id"], unique=False
        )

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=3), nullable=True))

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("credit_applied", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("credited_to_balance", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("amount_refunded", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.drop_constraint(batch_op.f("uq_invoices_subscription_period"), type_="unique")
        batch_op.create_index(
            "uq_invoices_subscription_period",
            ["subscription_id", "period_start"],
            unique=True,
            postgresql_where=sa.text(
                "billing_reason IN ('subscription_create', 'subscription_cycle', 'trial_end')"
            ),
            sqlite_where=sa.text(
                "billing_reason IN ('subscription_create', 'subscription_cycle', 'trial_end')"
            ),
        )

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("intro_price", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("intro_periods_remaining", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("intro_periods_remaining")
        batch_op.drop_column("intro_price")
        batch_op.drop_column("region")

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_invoices_subscription_period",
            postgresql_where=sa.text(
                "billing_reason IN ('subscription_create', 'subscription_cycle', 'trial_end')"
            ),
            sqlite_where=sa.text(
                "billing_reason IN ('subscription_create', 'subscription_cycle', 'trial_end')"
            ),
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_invoices_subscription_period"), ["subscription_id", "period_start"]
        )
        batch_op.drop_column("amount_refunded")
        batch_op.drop_column("credited_to_balance")
        batch_op.drop_column("credit_applied")

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("region")

    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_notes_invoice_id"))

    op.drop_table("credit_notes")
    op.drop_table("customer_balances")
    with op.batch_alter_table("promo_redemptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promo_redemptions_subscription_id"))

    op.drop_table("promo_redemptions")
    with op.batch_alter_table("sandbox_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_refunds_charge_id"))

    op.drop_table("sandbox_refunds")
    op.drop_table("promo_codes")
    op.drop_table("intro_redemptions")
    with op.batch_alter_table("balance_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_balance_transactions_customer_id"))

    op.drop_table("balance_transactions")
