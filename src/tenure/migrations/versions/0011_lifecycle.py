"""lifecycle controls (issue 12): a customer's billing day

Revision ID: 0011_lifecycle
Revises: 0010_outbox_request_context
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_lifecycle"
down_revision: str | None = "0010_outbox_request_context"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("billing_day", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("billing_day")
