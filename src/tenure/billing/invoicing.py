"""Building invoices for subscription periods. Pure: values in, rows out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

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


@dataclass(frozen=True, slots=True)
class InvoiceRows:
    invoice: dict[str, Any]
    lines: list[dict[str, Any]]


def build_invoice(
    *,
    customer_id: str,
    subscription_id: str | None,
    currency: str,
    billing_reason: str,
    period_start: datetime,
    period_end: datetime,
    lines: list[LineDraft],
    tax: TaxRule,
    created_at: datetime,
    status: str = "open",
) -> InvoiceRows:
    invoice_id = new_id("in")
    line_rows: list[dict[str, Any]] = []
    subtotal = tax_total = total = 0
    for position, line in enumerate(lines):
        taxed = apply_tax(line.amount * line.quantity, rate=tax.rate, inclusive=tax.inclusive)
        subtotal += taxed.net
        tax_total += taxed.tax
        total += taxed.total
        line_rows.append(
            {
                "id": new_id("il"),
                "invoice_id": invoice_id,
                "position": position,
                "description": line.description,
                "plan_id": line.plan_id,
                "period_start": line.period_start,
                "period_end": line.period_end,
                "quantity": line.quantity,
                "amount": line.amount * line.quantity,
                "net": taxed.net,
                "tax": taxed.tax,
                "total": taxed.total,
            }
        )
    invoice = {
        "id": invoice_id,
        "customer_id": customer_id,
        "subscription_id": subscription_id,
        "status": status,
        "billing_reason": billing_reason,
        "currency": currency,
        "period_start": period_start,
        "period_end": period_end,
        "subtotal": subtotal,
        "tax": tax_total,
        "total": total,
        "amount_paid": 0,
        "credit_applied": 0,
        "credited_to_balance": 0,
        "amount_refunded": 0,
        "tax_inclusive": tax.inclusive,
        "tax_rate": rate_percent_text(tax.rate),
        "tax_name": tax.name,
        "created_at": created_at,
        "paid_at": None,
        "closed_at": None,
    }
    return InvoiceRows(invoice=invoice, lines=line_rows)


def amount_due(invoice: dict[str, Any]) -> int:
    """What is left to collect: the total less credit applied and payments, never negative."""
    return max(
        int(invoice["total"]) - int(invoice["credit_applied"]) - int(invoice["amount_paid"]), 0
    )
