"""payment providers: provider customers, adapters' request journal, webhook inbox, shared
rate limit; payment methods name their provider

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("payment_methods") as batch:
        batch.add_column(
            sa.Column("provider", sa.String(length=16), nullable=False, server_default="sandbox")
        )
        batch.add_column(sa.Column("provider_customer", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("details_as_of", TIMESTAMP, nullable=True))
    op.create_index("ix_payment_methods_token", "payment_methods", ["provider", "provider_token"])
    op.create_table(
        "provider_customers",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "provider", name=op.f("pk_provider_customers")),
    )
    op.create_table(
        "provider_requests",
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_customer", sa.String(length=256), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", "kind", name=op.f("pk_provider_requests")),
    )
    op.create_index("ix_provider_requests_reference", "provider_requests", ["reference"])
    op.create_table(
        "provider_events",
        sa.Column("pk", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=128), nullable=True),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("processed_at", TIMESTAMP, nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_provider_events")),
        sa.UniqueConstraint("provider", "event_id", name="uq_provider_events_event"),
    )
    op.create_index(
        "ix_provider_events_pending",
        "provider_events",
        ["occurred_at", "pk"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index("ix_provider_events_object", "provider_events", ["provider", "object_id"])
    op.create_table(
        "rate_limits",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("tat", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rate_limits")),
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
    op.drop_index("ix_provider_events_object", table_name="provider_events")
    op.drop_index("ix_provider_events_pending", table_name="provider_events")
    op.drop_table("provider_events")
    op.drop_index("ix_provider_requests_reference", table_name="provider_requests")
    op.drop_table("provider_requests")
    op.drop_table("provider_customers")
    op.drop_index("ix_payment_methods_token", table_name="payment_methods")
    with op.batch_alter_table("payment_methods") as batch:
        batch.drop_column("details_as_of")
        batch.drop_column("provider_customer")
        batch.drop_column("provider")
