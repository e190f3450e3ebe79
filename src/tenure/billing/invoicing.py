"""Building invoices from lines and a tax rule. Pure: values in, a typed record out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from tenure.billing.records import BillingReason, InvoiceRecord, InvoiceStatus, LineRecord
from tenure.billing.tax import apply_tax, rate_percent_text
from tenure.kernel.ids import new_id


@dataclass(frozen=True, slots=True)
class TaxRule:
    inclusive: bool
    rate: Fraction
    name: str


@dataclass(frozen=True, slots=True)
class LineDraft:
    description: str
    plan_id: str | None
    period_start: datetime
    period_end: datetime
    amount: int
    quantity: int = 1


def build_invoice(
    *,
    customer_id: str,
    subscription_id: str | None,
    currency: str,
    billing_reason: BillingReason,
    period_start: datetime,
    period_end: datetime,
    lines: list[LineDraft],
    tax: TaxRule,
    created_at: datetime,
    metadata: dict[str, str] | None = None,
) -> InvoiceRecord:
    """An open invoice with its lines; net, tax and total are the sums of the lines'."""
    invoice_id = new_id("in")
    records: list[LineRecord] = []
    for position, line in enumerate(lines):
        amount = line.amount * line.quantity
        taxed = apply_tax(amount, rate=tax.rate, inclusive=tax.inclusive)
        records.append(
            LineRecord(
                id=new_id("il"),
                invoice_id=invoice_id,
                position=position,
                description=line.description,
                plan_id=line.plan_id,
                period_start=line.period_start,
                period_end=line.period_end,
                quantity=line.quantity,
                amount=amount,
                net=taxed.net,
                tax=taxed.tax,
                total=taxed.total,
            )
        )
    return InvoiceRecord(
        id=invoice_id,
        customer_id=customer_id,
        subscription_id=subscription_id,
        status=InvoiceStatus.OPEN,
        billing_reason=billing_reason,
        currency=currency,
        period_start=period_start,
        period_end=period_end,
        subtotal=sum(line.net for line in records),
        tax=sum(line.tax for line in records),
        total=sum(line.total for line in records),
        tax_inclusive=tax.inclusive,
        tax_rate=rate_percent_text(tax.rate),
        tax_name=tax.name,
        created_at=created_at,
        metadata=dict(metadata or {}),
        lines=records,
    )
