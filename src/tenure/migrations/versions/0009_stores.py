"""stores: subscriptions get a channel (web, app_store, google_play); one live subscription per
customer applies to web subscriptions only; paused is live; store subscriptions, purchase
tokens, transactions, the notification inbox and account tokens

Revision ID: 0009_stores
Revises: 0008
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_stores"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")

_LIVE_BEFORE = "status IN ('active', 'incomplete', 'on_hold', 'past_due', 'trialing')"
# A store subscription is unique by its store identity instead (store_subscriptions), so a
# customer can hold a web subscription and a store one at once.
_LIVE_AFTER = (
    "channel = 'web' AND "
    "status IN ('active', 'incomplete', 'on_hold', 'past_due', 'paused', 'trialing')"
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
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="web")
        )
        batch_op.drop_index("uq_subscriptions_one_live_per_customer")
        _live_index(batch_op, _LIVE_AFTER)
    op.create_table(
        "store_subscriptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("store_key", sa.String(length=128), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=160), nullable=False),
        sa.Column("state_as_of", TIMESTAMP, nullable=False),
        sa.Column("check_after", TIMESTAMP, nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("ack_state", sa.String(length=16), nullable=True),
        sa.Column("ack_due_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_store_subscriptions_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_subscriptions")),
        sa.UniqueConstraint("channel", "store_key", name="uq_store_subscriptions_key"),
    )
    op.create_index("ix_store_subscriptions_check", "store_subscriptions", ["check_after"])
    op.create_index("ix_store_subscriptions_ack", "store_subscriptions", ["ack_state"])
    op.create_index(
        op.f("ix_store_subscriptions_subscription_id"), "store_subscriptions", ["subscription_id"]
    )
    op.create_table(
        "store_purchase_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("store_subscription_id", sa.String(length=40), nullable=False),
        sa.Column("linked_token_hash", sa.String(length=64), nullable=True),
        sa.Column("product_id", sa.String(length=160), nullable=False),
        sa.Column("superseded_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_store_purchase_tokens")),
    )
    op.create_index(
        op.f("ix_store_purchase_tokens_store_subscription_id"),
        "store_purchase_tokens",
        ["store_subscription_id"],
    )
    op.create_table(
        "store_transactions",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("transaction_id", sa.String(length=128), nullable=False),
        sa.Column("store_subscription_id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=True),
        sa.Column("product_id", sa.String(length=160), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("purchased_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("refunded_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("channel", "transaction_id", name=op.f("pk_store_transactions")),
    )
    op.create_index(
        op.f("ix_store_transactions_store_subscription_id"),
        "store_transactions",
        ["store_subscription_id"],
    )
    op.create_table(
        "store_notifications",
        sa.Column("pk", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("notification_id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("subtype", sa.String(length=64), nullable=True),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("store_key", sa.String(length=128), nullable=True),
        sa.Column("signed_at", TIMESTAMP, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("processed_at", TIMESTAMP, nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_store_notifications")),
        sa.UniqueConstraint("channel", "notification_id", name="uq_store_notifications_id"),
    )
    op.create_index("ix_store_notifications_status", "store_notifications", ["status", "signed_at"])
    op.create_index("ix_store_notifications_key", "store_notifications", ["channel", "store_key"])
    op.create_table(
        "store_account_tokens",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_store_account_tokens_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_store_account_tokens")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_store_account_tokens_customer_id")),
    )


def downgrade() -> None:
    op.drop_table("store_account_tokens")
    op.drop_index("ix_store_notifications_key", table_name="store_notifications")
    op.drop_index("ix_store_notifications_status", table_name="store_notifications")
    op.drop_table("store_notifications")
    op.drop_index(
        op.f("ix_store_transactions_store_subscription_id"), table_name="store_transactions"
    )
    op.drop_table("store_transactions")
    op.drop_index(
        op.f("ix_store_purchase_tokens_store_subscription_id"),
        table_name="store_purchase_tokens",
    )
    op.drop_table("store_purchase_tokens")
    op.drop_index(op.f("ix_store_subscriptions_subscription_id"), table_name="store_subscriptions")
    op.drop_index("ix_store_subscriptions_ack", table_name="store_subscriptions")
    op.drop_index("ix_store_subscriptions_check", table_name="store_subscriptions")
    op.drop_table("store_subscriptions")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("uq_subscriptions_one_live_per_customer")
        _live_index(batch_op, _LIVE_BEFORE)
        batch_op.drop_column("channel")
