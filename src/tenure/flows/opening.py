"""Opening a subscription invoice: announce it, then either collect it or settle it on the spot.

Shared by subscribe, plan changes and renewals, which all do the same after the credit balance
has been applied (``billing.balance.settle``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tenure.billing import service as invoices
from tenure.billing.invoicing import InvoiceRows, amount_due
from tenure.payments import attempts
from tenure.subscriptions import record as subs


def open_invoice(
    draft: InvoiceRows,
    sub: subs.Sub,
    *,
    payment_method: str | None,
    at: datetime,
    events: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """Record ``invoice.created``; return the payment attempt to store when money is due, or
    ``None`` when credit covered it (the invoice is then marked paid, with ``invoice.paid``)."""
    invoice = draft.invoice
    events.append(
        invoices.invoice_event("invoice.created", invoice, at=at, sequence=sub.next_sequence())
    )
    due = amount_due(invoice)
    if due > 0:
        return attempts.new_attempt(
            invoice_id=invoice["id"],
            customer_id=sub.customer_id,
            test_clock_id=sub.test_clock_id,
            amount=due,
            currency=sub.currency,
            payment_method=payment_method or "",
            attempt_number=1,
            created_at=at,
        )
    invoice.update(status="paid", paid_at=at, closed_at=at)
    events.append(
        invoices.invoice_event("invoice.paid", invoice, at=at, sequence=sub.next_sequence())
    )
    return None
