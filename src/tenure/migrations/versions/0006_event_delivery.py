"""event delivery: relay cursors, per-destination deliveries, webhook endpoints

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-25 23:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "relay_cursors",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_relay_cursors")),
    )
    op.create_table(
        "event_deliveries",
        sa.Column("pk", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.String(length=40), nullable=False),
        sa.Column("event_pk", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("ordering_key", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("leased_until", TIMESTAMP, nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("first_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_event_deliveries")),
        sa.UniqueConstraint(
            "destination", "event_id", name="uq_event_deliveries_destination_event"
        ),
    )
    op.create_index(
        "ix_event_deliveries_due",
        "event_deliveries",
        ["kind", "position"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_event_deliveries_chain",
        "event_deliveries",
        ["destination", "ordering_key", "position"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_event_deliveries_destination", "event_deliveries", ["destination", "position"]
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        sa.Column("disabled_at", TIMESTAMP, nullable=True),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret_expires_at", TIMESTAMP, nullable=True),
        sa.Column("failing_since", TIMESTAMP, nullable=True),
        sa.Column("last_success_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )


def downgrade() -> None:
    op.drop_table("webhook_endpoints")
    op.drop_index("ix_event_deliveries_destination", table_name="event_deliveries")
    op.drop_index("ix_event_deliveries_chain", table_name="event_deliveries")
    op.drop_index("ix_event_deliveries_due", table_name="event_deliveries")
    op.drop_table("event_deliveries")
    op.drop_table("relay_cursors")
