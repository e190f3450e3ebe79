"""Invoices with their lines, credit notes and payment attempts.

THE place where billing and payment records become responses: one ``*_of`` function each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from tenure.api.resources.base import Resource, at, extend, ts
from tenure.billing.disputes import DisputeRecord, DisputeStatus
from tenure.billing.records import (
    BillingReason,
    CreditNoteRecord,
    CreditNoteStatus,
    InvoiceRecord,
    InvoiceStatus,
    LineRecord,
    amount_due,
)
from tenure.payments.attempts import Attempt, AttemptStatus


class InvoiceLine(Resource):
    id: str
    description: str
    plan: str | None
    period_start: str
    period_end: str
    quantity: int
    amount: int  # as priced: gross in tax-inclusive markets, net otherwise; may be negative
    net: int
    tax: int
    total: int


class CreditNote(Resource):
    id: str
    object: Literal["credit_note"]
    invoice: str
    customer: str
    amount: int
    currency: str
    reason: str
    status: CreditNoteStatus
    credit_returned: int  # credit given back to the balance when this refund ended the cash
    provider_refund_id: str | None
    failure_message: str | None
    created: str


class InvoiceDispute(Resource):
    """A chargeback on the invoice's payment (``open`` until the bank decides)."""

    id: str
    object: Literal["dispute"]
    provider: str
    provider_dispute_id: str
    amount: int
    currency: str
    reason: str
    status: DisputeStatus
    opened: str
    closed_at: str | None


class Invoice(Resource):
    id: str
    object: Literal["invoice"]
    customer: str
    subscription: str | None
    status: InvoiceStatus
    billing_reason: BillingReason
    period_start: str
    period_end: str
    currency: str
    subtotal: int
    tax: int
    total: int
    amount_paid: int  # cash captured by the provider (never the credit)
    credit_applied: int  # taken from the customer's credit balance
    credited_to_balance: int  # a negative total, banked as credit
    credit_returned: int  # credit given back to the balance (voided, or cash fully refunded)
    amount_refunded: int  # cash refunded
    credited_unused: int  # unused time given back as balance credit (no longer refundable)
    amount_due: int  # total - credit applied - cash paid while open, else 0
    tax_inclusive: bool
    tax_rate: str
    tax_name: str
    created: str
    paid_at: str | None
    lines: list[InvoiceLine]
    metadata: dict[str, str]


class InvoiceDetail(Invoice):
    """An invoice as ``GET /v1/invoices/{id}`` and pay show it: with its credit notes and any
    dispute (chargeback) on its payment."""

    credit_notes: list[CreditNote]
    disputes: list[InvoiceDispute]


class PaymentAttempt(Resource):
    """One try at collecting an invoice, stored with its idempotency key before the call."""

    id: str
    object: Literal["payment_attempt"]
    invoice: str
    attempt_number: int
    amount: int  # what this attempt charged: what was owed when it was made
    currency: str
    payment_method: str
    status: AttemptStatus
    decline_code: str | None
    failure_message: str | None
    retryable: bool | None
    idempotency_key: str
    created: str
    completed_at: str | None


class PaymentAttemptList(Resource):
    object: Literal["list"]
    data: list[PaymentAttempt]
    has_more: bool
    next: str | None


class InvoiceList(Resource):
    object: Literal["list"]
    data: list[Invoice]
    has_more: bool
    next: str | None


def line_of(line: LineRecord) -> InvoiceLine:
    return InvoiceLine(
        id=line.id,
        description=line.description,
        plan=line.plan_id,
        period_start=at(line.period_start),
        period_end=at(line.period_end),
        quantity=line.quantity,
        amount=line.amount,
        net=line.net,
        tax=line.tax,
        total=line.total,
    )


def invoice_of(row: InvoiceRecord) -> Invoice:
    return Invoice(
        id=row.id,
        object="invoice",
        customer=row.customer_id,
        subscription=row.subscription_id,
        status=row.status,
        billing_reason=row.billing_reason,
        period_start=at(row.period_start),
        period_end=at(row.period_end),
        currency=row.currency,
        subtotal=row.subtotal,
        tax=row.tax,
        total=row.total,
        amount_paid=row.amount_paid,
        credit_applied=row.credit_applied,
        credited_to_balance=row.credited_to_balance,
        credit_returned=row.credit_returned,
        amount_refunded=row.amount_refunded,
        credited_unused=row.credited_unused,
        amount_due=amount_due(row),
        tax_inclusive=row.tax_inclusive,
        tax_rate=row.tax_rate,
        tax_name=row.tax_name,
        created=at(row.created_at),
        paid_at=ts(row.paid_at),
        lines=[line_of(line) for line in row.lines],
        metadata=dict(row.metadata),
    )


def credit_note_of(note: CreditNoteRecord) -> CreditNote:
    return CreditNote(
        id=note.id,
        object="credit_note",
        invoice=note.invoice_id,
        customer=note.customer_id,
        amount=note.amount,
        currency=note.currency,
        reason=note.reason,
        status=note.status,
        credit_returned=note.credit_returned,
        provider_refund_id=note.provider_refund_id,
        failure_message=note.failure_message,
        created=at(note.created_at),
    )


def dispute_of(dispute: DisputeRecord) -> InvoiceDispute:
    return InvoiceDispute(
        id=dispute.id,
        object="dispute",
        provider=dispute.provider,
        provider_dispute_id=dispute.provider_dispute_id,
        amount=dispute.amount,
        currency=dispute.currency,
        reason=dispute.reason,
        status=dispute.status,
        opened=at(dispute.opened_at),
        closed_at=ts(dispute.closed_at),
    )


def invoice_detail_of(
    row: InvoiceRecord,
    notes: Sequence[CreditNoteRecord],
    disputes: Sequence[DisputeRecord] = (),
) -> InvoiceDetail:
    return extend(
        invoice_of(row),
        InvoiceDetail,
        credit_notes=[credit_note_of(note) for note in notes],
        disputes=[dispute_of(dispute) for dispute in disputes],
    )


def payment_attempt_of(attempt: Attempt) -> PaymentAttempt:
    return PaymentAttempt(
        id=attempt.id,
        object="payment_attempt",
        invoice=attempt.invoice_id,
        attempt_number=attempt.attempt_number,
        amount=attempt.amount,
        currency=attempt.currency,
        payment_method=attempt.payment_method,
        status=attempt.status,
        decline_code=attempt.decline_code,
        failure_message=attempt.failure_message,
        retryable=attempt.retryable,
        idempotency_key=attempt.idempotency_key,
        created=at(attempt.created_at),
        completed_at=ts(attempt.completed_at),
    )
