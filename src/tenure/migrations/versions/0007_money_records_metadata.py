"""money as 64-bit integers, cash-only amount_paid, credit returned, metadata

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:30:00

- Every money column becomes BIGINT (sums of minor units overflow 32 bits quickly in
  currencies such as IDR or KRW). SQLite's INTEGER is already 64-bit.
- ``invoices.amount_paid`` is cash captured only: earlier versions stored the total when credit
  paid part of an invoice, so it is recomputed from the successful payment attempts.
- ``invoices.credit_returned`` and ``credit_notes.credit_returned``: credit given back to the
  balance when an invoice is voided or its cash is refunded in full.
- ``metadata`` (string keys and values) on customers, subscriptions and invoices.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")

MONEY_COLUMNS = {
    "invoices": [
        "subtotal",
        "tax",
        "total",
        "amount_paid",
        "credit_applied",
        "credited_to_balance",
        "amount_refunded",
    ],
    "invoice_lines": ["amount", "net", "tax", "total"],
    "customer_balances": ["amount"],
    "balance_transactions": ["amount", "balance_after"],
    "credit_notes": ["amount"],
    "promo_codes": ["amount_off"],
    "payment_attempts": ["amount"],
    "sandbox_charges": ["amount"],
    "sandbox_refunds": ["amount"],
    "subscriptions": ["price_amount", "intro_price"],
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in MONEY_COLUMNS.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())
    zero = sa.text("0")
    op.add_column(
        "invoices",
        sa.Column("credit_returned", sa.BigInteger(), nullable=False, server_default=zero),
    )
    op.add_column(
        "credit_notes",
        sa.Column("credit_returned", sa.BigInteger(), nullable=False, server_default=zero),
    )
    empty = sa.text("'{}'")
    for table in ("customers", "subscriptions", "invoices"):
        op.add_column(table, sa.Column("metadata", JSON, nullable=False, server_default=empty))
    # Cash only: what the provider captured for the invoice (a late payment on a closed invoice
    # counts too; it is refunded through a credit note).
    op.execute(
        "UPDATE invoices SET amount_paid = COALESCE((SELECT SUM(a.amount) FROM payment_attempts a"
        " WHERE a.invoice_id = invoices.id AND a.status = 'succeeded'), 0)"
    )
    # Voided invoices gave their credit back already (earlier versions did so without a column).
    op.execute("UPDATE invoices SET credit_returned = credit_applied WHERE status = 'void'")


def downgrade() -> None:
    for table in ("customers", "subscriptions", "invoices"):
        op.drop_column(table, "metadata")
    op.drop_column("credit_notes", "credit_returned")
    op.drop_column("invoices", "credit_returned")
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in MONEY_COLUMNS.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
