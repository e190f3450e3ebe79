"""due order: the worker's due indexes cover its whole ORDER BY (next_action_at, id), so the
batch claim is an index range scan, not a sort of every due subscription (a partial index for
real time: PostgreSQL does not treat ``test_clock_id IS NULL`` as fixing the leading column)

Revision ID: 0016_due_order
Revises: 0015_retention
Create Date: 2026-12-02 01:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_due_order"
down_revision: str | None = "0015_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_index("ix_subscriptions_due")
        batch.create_index("ix_subscriptions_due", ["test_clock_id", "next_action_at", "id"])
        batch.create_index(
            "ix_subscriptions_due_now",
            ["next_action_at", "id"],
            postgresql_where=sa.text("test_clock_id IS NULL"),
            sqlite_where=sa.text("test_clock_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_index("ix_subscriptions_due_now")
        batch.drop_index("ix_subscriptions_due")
        batch.create_index("ix_subscriptions_due", ["test_clock_id", "next_action_at"])
