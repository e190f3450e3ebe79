"""How resources look in responses. Timestamps are RFC 3339 UTC; money is integer minor units."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tenure.billing.plan_change import ChangeQuote
from tenure.billing.records import CreditNoteRecord, InvoiceRecord, LineRecord, amount_due
from tenure.catalog.model import Catalog, Market, Plan
from tenure.customers.models import Customer
from tenure.kernel.clock import rfc3339
from tenure.payments.attempts import Attempt
from tenure.subscriptions.offers import UsedOffers
from tenure.subscriptions.record import Sub, pending_change
from tenure.testclocks.models import TestClock


def ts(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


def test_clock(clock: TestClock) -> dict[str, Any]:
    return {
        "id": clock.id,
        "object": "test_clock",
        "name": clock.name,
        "frozen_time": ts(clock.frozen_time),
        "status": clock.status,
        "created": ts(clock.created_at),
    }


def customer(row: Customer) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "customer",
        "external_id": row.external_id,
        "email": row.email,
        "market": row.market,
        "region": row.region,
        "test_clock": row.test_clock_id,
        "created": ts(row.created_at),
    }


def plan(
    catalog: Catalog, item: Plan, market: Market, used: UsedOffers | None = None
) -> dict[str, Any]:
    product = catalog.product_of(item)
    intro = item.intro
    return {
        "id": item.id,
        "object": "plan",
        "product": item.product,
        "product_name": product.name,
        "interval": item.interval.value,
        "interval_count": item.interval_count,
        "price": {"amount": item.prices[market.code], "currency": market.currency},
        "tax_inclusive": market.tax_inclusive,
        "tax_rate": market.tax_rate_percent,
        "trial_days": item.trial_days,
        "accounts": product.accounts,
        "features": sorted(name for name, value in product.features.items() if value is not False),
        "feature_values": dict(product.features),
        "intro_offer": None
        if intro is None or market.code not in intro.prices
        else {
            "price": {"amount": intro.prices[market.code], "currency": market.currency},
            "periods": intro.periods,
        },
        "eligibility": None
        if used is None
        else {
            "trial": item.trial_days > 0 and product.family not in used.trial_families,
            "intro_offer": intro is not None and product.family not in used.intro_families,
        },
    }


def subscription(sub: Sub) -> dict[str, Any]:
    return {
        "id": sub.id,
        "object": "subscription",
        "customer": sub.customer_id,
        "status": sub.status,
        "plan": sub.plan_id,
        "product": sub.product_id,
        "market": sub.market,
        "price": {"amount": sub.price_amount, "currency": sub.currency},
        "intro_price": sub.intro_price,
        "intro_periods_remaining": sub.intro_periods_remaining,
        "billing_anchor": ts(sub.billing_anchor),
        "current_period_start": ts(sub.current_period_start),
        "current_period_end": ts(sub.current_period_end),
        "trial_start": ts(sub.trial_start),
        "trial_end": ts(sub.trial_end),
        "cancel_at_period_end": sub.cancel_at_period_end,
        "pending_change": pending_change(sub),
        "canceled_at": ts(sub.canceled_at),
        "ended_at": ts(sub.ended_at),
        "ended_reason": sub.ended_reason,
        "payment_method": sub.payment_method,
        "test_clock": sub.test_clock_id,
        "created": ts(sub.created_at),
    }


def _line(line: LineRecord) -> dict[str, Any]:
    return {
        "id": line.id,
        "description": line.description,
        "plan": line.plan_id,
        "period_start": ts(line.period_start),
        "period_end": ts(line.period_end),
        "quantity": line.quantity,
        "amount": line.amount,
        "net": line.net,
        "tax": line.tax,
        "total": line.total,
    }


def change_preview(
    sub: Sub,
    plan_id: str,
    quote: ChangeQuote,
    draft: InvoiceRecord | None,
    money: dict[str, int],
) -> dict[str, Any]:
    return {
        "object": "plan_change_preview",
        "subscription": sub.id,
        "from_plan": sub.plan_id,
        "plan": plan_id,
        "change_type": quote.type.value,
        "timing": quote.timing.value,
        "effective_at": ts(quote.effective_at),
        "currency": sub.currency,
        "new_period": None
        if quote.new_period is None
        else {"start": ts(quote.new_period[0]), "end": ts(quote.new_period[1])},
        "lines": [_line(line) for line in draft.lines] if draft else [],
        **money,
    }


def invoice(row: InvoiceRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "invoice",
        "customer": row.customer_id,
        "subscription": row.subscription_id,
        "status": row.status.value,
        "billing_reason": row.billing_reason.value,
        "period_start": ts(row.period_start),
        "period_end": ts(row.period_end),
        "currency": row.currency,
        "subtotal": row.subtotal,
        "tax": row.tax,
        "total": row.total,
        "amount_paid": row.amount_paid,
        "credit_applied": row.credit_applied,
        "credited_to_balance": row.credited_to_balance,
        "credit_returned": row.credit_returned,
        "amount_refunded": row.amount_refunded,
        "amount_due": amount_due(row),
        "tax_inclusive": row.tax_inclusive,
        "tax_rate": row.tax_rate,
        "tax_name": row.tax_name,
        "created": ts(row.created_at),
        "paid_at": ts(row.paid_at),
        "metadata": dict(row.metadata),
        "lines": [_line(line) for line in row.lines],
    }


def payment_attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "object": "payment_attempt",
        "invoice": attempt.invoice_id,
        "attempt_number": attempt.attempt_number,
        "amount": attempt.amount,
        "currency": attempt.currency,
        "status": attempt.status.value,
        "decline_code": attempt.decline_code,
        "failure_message": attempt.failure_message,
        "retryable": attempt.retryable,
        "idempotency_key": attempt.idempotency_key,
        "created": ts(attempt.created_at),
        "completed_at": ts(attempt.completed_at),
    }


def event(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "event",
        "type": row.type,
        "schema_version": row.schema_version,
        "created": ts(row.created),
        "position": row.position,
        "customer": row.customer_id,
        "subscription": row.subscription_id,
        "sequence": row.sequence,
        "data": row.data,
    }


def credit_note(note: CreditNoteRecord) -> dict[str, Any]:
    return {
        "id": note.id,
        "object": "credit_note",
        "invoice": note.invoice_id,
        "customer": note.customer_id,
        "amount": note.amount,
        "currency": note.currency,
        "reason": note.reason,
        "status": note.status.value,
        "credit_returned": note.credit_returned,
        "provider_refund_id": note.provider_refund_id,
        "failure_message": note.failure_message,
        "created": ts(note.created_at),
    }


def promo_code(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "promo_code",
        "code": row.code,
        "kind": row.kind,
        "percent_off": row.percent_off,
        "amount_off": row.amount_off,
        "currency": row.currency,
        "duration": row.duration,
        "duration_periods": row.duration_periods,
        "products": list(row.products or []),
        "markets": list(row.markets or []),
        "valid_from": ts(row.valid_from),
        "valid_until": ts(row.valid_until),
        "max_redemptions": row.max_redemptions,
        "times_redeemed": row.times_redeemed,
        "active": row.active,
        "created": ts(row.created_at),
    }
