"""lifecycle controls (issue 12): a customer's billing day; scheduled subscriptions are live

Revision ID: 0013_lifecycle
Revises: 0010_outbox_request_context
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_lifecycle"
down_revision: str | None = "0012_payments_phase2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_LIVE_BEFORE = (
    "channel = 'web' AND "
    "status IN ('active', 'incomplete', 'on_hold', 'past_due', 'paused', 'trialing')"
)
# A subscription scheduled to start later blocks a second one, like any live subscription.
_LIVE_AFTER = (
    "channel = 'web' AND status IN "
    "('active', 'incomplete', 'on_hold', 'past_due', 'paused', 'scheduled', 'trialing')"
)


def _live_index(batch_op: object, where: str) -> None:
    batch_op.create_index(  # type: ignore[attr-defined]
        "uq_subscriptions_one_live_per_customer",
        ["customer_id"],
        unique=True,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("billing_day", sa.Integer(), nullable=True))
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_index("uq_subscriptions_one_live_per_customer")
        _live_index(batch, _LIVE_AFTER)
        batch.add_column(
            sa.Column("renews", sa.Boolean(), nullable=False, server_default=sa.text("true"))
        )
    op.create_table(
        "subscription_items",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("price_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subscription_items") as batch:
        batch.create_index(
            "uq_subscription_items_one_per_product",
            ["subscription_id", "product_id"],
            unique=True,
            postgresql_where=sa.text("status IN ('pending', 'active')"),
            sqlite_where=sa.text("status IN ('pending', 'active')"),
        )
    with op.batch_alter_table("entitlements") as batch:
        batch.add_column(
            sa.Column("addons", sa.String(length=300), nullable=False, server_default="")
        )
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(
            sa.Column("credited_unused", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("entitlements") as batch:
        batch.drop_column("addons")
    op.drop_table("subscription_items")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("credited_unused")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("renews")
        batch.drop_index("uq_subscriptions_one_live_per_customer")
        _live_index(batch, _LIVE_BEFORE)
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("billing_day")
