"""test clocks: a lease on an advance, so one interrupted by a crash can be retried

Revision ID: 0011_faults
Revises: 0010_outbox_request_context
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_faults"
down_revision: str | None = "0010_outbox_request_context"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("test_clocks") as batch:
        batch.add_column(
            sa.Column("advance_lease_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("test_clocks") as batch:
        batch.drop_column("advance_lease_until")
