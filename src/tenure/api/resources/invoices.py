"""Invoices with their lines and credit notes.

THE place where billing records become responses. Today ``billing.service`` hands invoices,
lines and credit notes over as dicts keyed by column name; when they become typed records,
only the three ``*_of`` functions below change (``row["total"]`` becomes ``row.total``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from tenure.api.resources.base import Resource, at, extend, metadata_of, ts
from tenure.billing.invoicing import amount_due

Row = dict[str, Any]


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
    status: str  # pending | succeeded | failed
    provider_refund_id: str | None
    failure_message: str | None
    created: str


class Invoice(Resource):
    id: str
    object: Literal["invoice"]
    customer: str
    subscription: str | None
    status: str  # open | paid | void | uncollectible
    billing_reason: str
    period_start: str
    period_end: str
    currency: str
    subtotal: int
    tax: int
    total: int
    amount_paid: int
    credit_applied: int
    credited_to_balance: int
    amount_refunded: int
    amount_due: int  # what is still owed while open, else 0
    tax_inclusive: bool
    tax_rate: str
    tax_name: str
    created: str
    paid_at: str | None
    lines: list[InvoiceLine]
    metadata: dict[str, str]


class InvoiceDetail(Invoice):
    """An invoice as ``GET /v1/invoices/{id}`` and pay show it: with its credit notes."""

    credit_notes: list[CreditNote]


class InvoiceList(Resource):
    object: Literal["list"]
    data: list[Invoice]
    has_more: bool
    next: str | None


def line_of(line: Row) -> InvoiceLine:
    return InvoiceLine(
        id=line["id"],
        description=line["description"],
        plan=line["plan_id"],
        period_start=at(line["period_start"]),
        period_end=at(line["period_end"]),
        quantity=line["quantity"],
        amount=line["amount"],
        net=line["net"],
        tax=line["tax"],
        total=line["total"],
    )


def invoice_of(row: Row, lines: Sequence[Row]) -> Invoice:
    return Invoice(
        id=row["id"],
        object="invoice",
        customer=row["customer_id"],
        subscription=row["subscription_id"],
        status=row["status"],
        billing_reason=row["billing_reason"],
        period_start=at(row["period_start"]),
        period_end=at(row["period_end"]),
        currency=row["currency"],
        subtotal=row["subtotal"],
        tax=row["tax"],
        total=row["total"],
        amount_paid=row["amount_paid"],
        credit_applied=row["credit_applied"],
        credited_to_balance=row["credited_to_balance"],
        amount_refunded=row["amount_refunded"],
        amount_due=amount_due(row) if row["status"] == "open" else 0,
        tax_inclusive=row["tax_inclusive"],
        tax_rate=row["tax_rate"],
        tax_name=row["tax_name"],
        created=at(row["created_at"]),
        paid_at=ts(row["paid_at"]),
        lines=[line_of(line) for line in lines],
        metadata=metadata_of(row),
    )


def credit_note_of(note: Row) -> CreditNote:
    return CreditNote(
        id=note["id"],
        object="credit_note",
        invoice=note["invoice_id"],
        customer=note["customer_id"],
        amount=note["amount"],
        currency=note["currency"],
        reason=note["reason"],
        status=note["status"],
        provider_refund_id=note["provider_refund_id"],
        failure_message=note["failure_message"],
        created=at(note["created_at"]),
    )


def invoice_detail_of(row: Row, lines: Sequence[Row], notes: Sequence[Row]) -> InvoiceDetail:
    return extend(
        invoice_of(row, lines),
        InvoiceDetail,
        credit_notes=[credit_note_of(note) for note in notes],
    )
