"""retention: pauses (scheduled changes with a resume time, the pause notice), cancel reasons

Revision ID: 0012_retention
Revises: 0010_outbox_request_context
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_retention"
down_revision: str | None = "0010_outbox_request_context"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scheduled_changes") as batch:
        batch.add_column(sa.Column("resumes_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("pause_notice_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("cancel_comment", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("cancel_comment")
        batch.drop_column("cancel_reason")
        batch.drop_column("pause_notice_at")
    with op.batch_alter_table("scheduled_changes") as batch:
        batch.drop_column("resumes_at")
