"""Opening a subscription invoice: announce it, then either collect it or settle it on the spot.

Shared by subscribe, plan changes and renewals, which all call it after the credit balance has
been applied (``billing.balance.settle``).
"""

from __future__ import annotations

from datetime import datetime

from tenure.billing import service as invoices
from tenure.billing.records import InvoiceRecord, amount_due, settle_if_covered
from tenure.flows.unit import UnitOfWork
from tenure.payments import attempts
from tenure.payments.attempts import Attempt
from tenure.subscriptions.record import Sub


def open_invoice(
    uow: UnitOfWork,
    invoice: InvoiceRecord,
    sub: Sub,
    *,
    payment_method: str | None,
    at: datetime,
    on_session: bool = False,
) -> Attempt | None:
    """Store the invoice with ``invoice.created``; return the first payment attempt when money
    is owed, or ``None`` when credit covered it (it is then paid, with ``invoice.paid``).
    ``on_session``: the customer is present (subscribe) and may be asked to authenticate."""
    uow.add_invoice(invoice)
    uow.track(sub)
    uow.emit(
        invoices.invoice_event("invoice.created", invoice, at=at, sequence=sub.next_sequence())
    )
    owed = amount_due(invoice)
    if owed > 0:
        attempt = attempts.new_attempt(
            invoice_id=invoice.id,
            customer_id=sub.customer_id,
            test_clock_id=sub.test_clock_id,
            amount=owed,
            currency=invoice.currency,
            payment_method=payment_method or "",
            attempt_number=1,
            created_at=at,
            on_session=on_session,
        )
        uow.add_attempt(attempt)
        return attempt
    settle_if_covered(invoice, at=at)
    uow.emit(invoices.invoice_event("invoice.paid", invoice, at=at, sequence=sub.next_sequence()))
    return None
