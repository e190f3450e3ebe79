"""retention: pauses (scheduled changes with a resume time, the pause notice), cancel
reasons, retention offers taken (once per customer per window), price changes

Revision ID: 0015_retention
Revises: 0014_security
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_retention"
down_revision: str | None = "0014_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("scheduled_changes") as batch:
        batch.add_column(sa.Column("resumes_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("amount", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("consent", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("price_change_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("price_version", sa.String(length=64), nullable=True))
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("pause_notice_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("cancel_comment", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("price_version", sa.String(length=64), nullable=True))

    op.create_table(
        "offer_redemptions",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("offer_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("percent_off", sa.String(length=16), nullable=True),
        sa.Column("periods_remaining", sa.Integer(), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_offer_redemptions_customer_id", "offer_redemptions", ["customer_id"])
    op.create_index(
        "ix_offer_redemptions_subscription_id", "offer_redemptions", ["subscription_id"]
    )
    op.create_table(
        "price_changes",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("consent", sa.String(length=16), nullable=False),
        sa.Column("notice_days", sa.Integer(), nullable=False),
        sa.Column("grandfather_started_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grandfather_versions", JSON, nullable=False),
        sa.Column("scheduled", sa.Integer(), nullable=False),
        sa.Column("grandfathered", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("plan_id", "market", "version", name="uq_price_changes_version"),
    )
    # Once per customer per window: one row per (customer, offer), moved by a guarded UPDATE.
    op.create_table(
        "offer_windows",
        sa.Column("customer_id", sa.String(length=40), primary_key=True),
        sa.Column("offer_id", sa.String(length=64), primary_key=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("price_changes")
    op.drop_table("offer_windows")
    op.drop_index("ix_offer_redemptions_subscription_id", table_name="offer_redemptions")
    op.drop_index("ix_offer_redemptions_customer_id", table_name="offer_redemptions")
    op.drop_table("offer_redemptions")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("price_version")
        batch.drop_column("cancel_comment")
        batch.drop_column("cancel_reason")
        batch.drop_column("pause_notice_at")
    with op.batch_alter_table("scheduled_changes") as batch:
        for column in ("price_version", "price_change_id", "accepted_at", "consent", "amount"):
            batch.drop_column(column)
        batch.drop_column("resumes_at")
