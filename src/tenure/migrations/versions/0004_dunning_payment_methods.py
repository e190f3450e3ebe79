"""dunning: payment methods, dunning cases, hold and retry clocks, on_hold is live

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-26 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE_BEFORE = "status IN ('active', 'incomplete', 'past_due', 'trialing')"
_LIVE_AFTER = "status IN ('active', 'incomplete', 'on_hold', 'past_due', 'trialing')"
_ONE_DEFAULT = "is_default AND detached_at IS NULL"


def _live_index(batch_op: object, where: str) -> None:
    batch_op.create_index(  # type: ignore[attr-defined]
        "uq_subscriptions_one_live_per_customer",
        ["customer_id"],
        unique=True,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def upgrade() -> None:
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("provider_token", sa.String(length=64), nullable=False),
        sa.Column("brand", sa.String(length=24), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detached_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
    )
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.create_index("ix_payment_methods_customer", ["customer_id", "id"], unique=False)
        batch_op.create_index(
            "uq_payment_methods_one_default",
            ["customer_id"],
            unique=True,
            postgresql_where=sa.text(_ONE_DEFAULT),
            sqlite_where=sa.text(_ONE_DEFAULT),
        )
    op.create_table(
        "dunning_cases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "policy",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grace_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hold_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_decline_code", sa.String(length=64), nullable=True),
        sa.Column("blocked_method_id", sa.String(length=40), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dunning_cases")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_dunning_cases_invoice_id")),
    )
    with op.batch_alter_table("dunning_cases", schema=None) as batch_op:
        batch_op.create_index(
            "uq_dunning_cases_one_open",
            ["subscription_id"],
            unique=True,
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold_ends_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True))
        # on_hold is live: a customer on hold cannot start a second subscription.
        batch_op.drop_index("uq_subscriptions_one_live_per_customer")
        _live_index(batch_op, _LIVE_AFTER)


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("uq_subscriptions_one_live_per_customer")
        _live_index(batch_op, _LIVE_BEFORE)
        batch_op.drop_column("next_retry_at")
        batch_op.drop_column("hold_ends_at")
    with op.batch_alter_table("dunning_cases", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_dunning_cases_one_open",
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )
    op.drop_table("dunning_cases")
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_payment_methods_one_default",
            postgresql_where=sa.text(_ONE_DEFAULT),
            sqlite_where=sa.text(_ONE_DEFAULT),
        )
        batch_op.drop_index("ix_payment_methods_customer")
    op.drop_table("payment_methods")
