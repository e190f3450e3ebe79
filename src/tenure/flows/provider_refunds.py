"""Refunds reported by the providers' webhooks: confirmations, failures, and dashboard refunds.

- A refund Tenure asked for and the provider confirms later (Adyen ``REFUND``, a Stripe refund
  leaving ``pending``) finishes its pending credit note: ``invoice.refunded``.
- One that fails (``success: false``, Stripe ``refund.failed``) fails its pending note; one that
  fails *after* it was confirmed (Adyen ``REFUND_FAILED``, ``REFUNDED_REVERSED``; a Stripe
  refund moving to ``failed``) is reversed: the cash counts as captured again
  (``invoice.refund_reversed``).
- A refund made in the provider's dashboard (no Tenure key) becomes a credit note of its own,
  keyed ``{provider}:{refund id}:refund`` (unique: a duplicate or a second event about the same
  refund finds it), for at most what the invoice may still refund
  (:func:`tenure.billing.records.refundable`).

Money moves only through :mod:`tenure.billing.records` (``record_refund``, ``reverse_refund``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import service as invoices
from tenure.billing.records import (
    CREDIT_NOTE,
    CreditNoteAction,
    CreditNoteRecord,
    CreditNoteStatus,
    InvoiceRecord,
    refundable,
    reverse_refund,
)
from tenure.flows.provider_events import Outcome
from tenure.flows.refunds import refunded
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.ids import new_id
from tenure.payments import attempts
from tenure.payments.inbox import InboxEvent, InboxStatus
from tenure.subscriptions import record as subs
from tenure.subscriptions.record import Sub

log = structlog.get_logger(__name__)

SUCCEEDED, PENDING, FAILED, REVERSED = "succeeded", "pending", "failed", "reversed"
_STRIPE_STATES = {
    "succeeded": SUCCEEDED,
    "pending": PENDING,
    "requires_action": PENDING,
    "failed": FAILED,
    "canceled": FAILED,
}


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    """One refund as a provider reports it, in Tenure's words."""

    refund_id: str
    payment: str | None  # the PaymentIntent / payment pspReference it refunds
    amount: int
    currency: str
    state: str  # succeeded | pending | failed | reversed
    key: str | None  # Tenure's idempotency key, when Tenure asked for the refund
    reason: str | None = None


def _stripe_refund(obj: dict[str, Any], payment: str | None = None) -> ProviderRefund | None:
    if not obj.get("id") or obj.get("amount") is None:
        return None
    metadata = obj.get("metadata") or {}
    return ProviderRefund(
        refund_id=str(obj["id"]),
        payment=str(obj.get("payment_intent") or payment or obj.get("charge") or "") or None,
        amount=int(obj["amount"]),
        currency=str(obj.get("currency") or "").upper(),
        state=_STRIPE_STATES.get(str(obj.get("status")), PENDING),
        key=metadata.get("tenure_idempotency_key"),
        reason=obj.get("reason"),
    )


def refunds_of(event: InboxEvent) -> list[ProviderRefund]:
    """The refunds an event reports (a Stripe ``charge.refunded`` may list several)."""
    if event.provider == "stripe":
        obj = (event.payload.get("data") or {}).get("object") or {}
        if event.type == "charge.refunded":
            listed = (obj.get("refunds") or {}).get("data") or []
            found = [_stripe_refund(r, obj.get("payment_intent")) for r in listed]
            return [r for r in found if r is not None]
        refund = _stripe_refund(obj)
        if refund is not None and event.type == "refund.failed":
            refund = replace(refund, state=FAILED)
        return [] if refund is None else [refund]
    item = event.payload
    if event.type not in ("REFUND", "REFUND_FAILED", "REFUNDED_REVERSED"):
        return []  # CANCEL_OR_REFUND: Tenure never asks for one
    amount = item.get("amount") or {}
    success = str(item.get("success")) == "true"
    state = {"REFUND": SUCCEEDED if success else FAILED, "REFUND_FAILED": FAILED}.get(
        event.type, REVERSED
    )
    return [
        ProviderRefund(
            refund_id=str(item.get("pspReference") or ""),
            payment=str(item.get("originalReference") or "") or None,
            amount=int(amount.get("value") or 0),
            currency=str(amount.get("currency") or "").upper(),
            state=state,
            key=str(item.get("merchantReference") or "") or None,
            reason=str(item.get("reason") or "") or None,
        )
    ]


def dashboard_key(provider: str, refund_id: str) -> str:
    return f"{provider}:{refund_id}:refund"[:128]


async def refund_event(runtime: Runtime, session: AsyncSession, event: InboxEvent) -> Outcome:
    found = refunds_of(event)
    if not found:
        return InboxStatus.IGNORED, "no refund details in the event"
    results = [await _apply(runtime, session, event.provider, refund) for refund in found]
    changed = [note for did, note in results if did]
    if not changed:
        return InboxStatus.IGNORED, "; ".join(note for _, note in results)
    return InboxStatus.PROCESSED, "; ".join(changed)


async def _locked(session: AsyncSession, invoice_id: str) -> tuple[InvoiceRecord, Sub | None]:
    """The invoice and its subscription, locked in the order every flow uses."""
    unlocked = await invoices.get(session, invoice_id)
    sub = None
    if unlocked.subscription_id:
        sub = await subs.load_one(session, unlocked.subscription_id, for_update=True)
    return await invoices.get(session, invoice_id, for_update=True), sub


async def _apply(
    runtime: Runtime, session: AsyncSession, provider: str, r: ProviderRefund
) -> tuple[bool, str]:
    """(whether anything changed, a note for the inbox)."""
    keys = [key for key in (r.key, dashboard_key(provider, r.refund_id)) if key]
    found = await invoices.find_note(session, keys=keys, refund_id=r.refund_id)
    if found is None:
        return await _dashboard_refund(runtime, session, provider, r)
    invoice, sub = await _locked(session, found.invoice_id)
    note = await invoices.get_note(session, found.id, for_update=True)
    now = await runtime.now_for(session, sub.test_clock_id if sub else None)
    uow = UnitOfWork(runtime, session, f"provider:{provider}")
    if note.status is CreditNoteStatus.PENDING and r.state in (SUCCEEDED, FAILED):
        note.finish(
            succeeded=r.state == SUCCEEDED,
            refund_id=r.refund_id,
            message=None if r.state == SUCCEEDED else (r.reason or "the provider failed it"),
            at=now,
        )
        if r.state == SUCCEEDED:
            refunded(uow, invoice, note, sub, now)
        await invoices.save_notes(session, [note])
        await uow.flush()
        return True, f"credit note {note.id} {note.status.value}"
    if note.status is CreditNoteStatus.SUCCEEDED and r.state in (FAILED, REVERSED):
        _reverse(uow, invoice, note, sub, now)
        await invoices.save_notes(session, [note])
        await uow.flush()
        return True, f"credit note {note.id} reversed"
    return False, f"refund {r.refund_id}: credit note {note.id} already {note.status.value}"


def _reverse(
    uow: UnitOfWork, invoice: InvoiceRecord, note: CreditNoteRecord, sub: Sub | None, at: datetime
) -> None:
    """The provider took a confirmed refund back: the cash counts as captured again."""
    if note.credit_returned:
        # The credit this refund gave back stays with the customer; support decides.
        log.warning("refund.reversed_after_credit_returned", note=note.id, invoice=invoice.id)
    reverse_refund(invoice, note.amount)
    note.status = CREDIT_NOTE.next(note.status, CreditNoteAction.REVERSE)
    note.completed_at = at
    uow.invoice_changed(invoice)
    if sub is not None:
        uow.track(sub)
    uow.emit(
        invoices.invoice_event(
            "invoice.refund_reversed",
            invoice,
            at=at,
            sequence=sub.next_sequence() if sub else None,
            amount_refunded=invoice.amount_refunded,
            reversed_amount=note.amount,
        )
    )


async def _dashboard_refund(
    runtime: Runtime, session: AsyncSession, provider: str, r: ProviderRefund
) -> tuple[bool, str]:
    """A refund nobody asked Tenure for: a credit note records it."""
    if r.state != SUCCEEDED:
        return False, f"refund {r.refund_id} is {r.state}; recorded once it succeeds"
    attempt = None if r.payment is None else await attempts.by_charge(session, r.payment)
    if attempt is None:
        return False, f"refund {r.refund_id} is for no payment Tenure collected"
    invoice, sub = await _locked(session, attempt.invoice_id)
    available = refundable(invoice)
    amount = min(r.amount, available)
    if r.currency != invoice.currency or amount <= 0:
        log.error(
            "refund.not_recordable", refund=r.refund_id, invoice=invoice.id,
            currency=r.currency, amount=r.amount, refundable=available,
        )  # fmt: skip
        return False, f"refund {r.refund_id}: nothing left to refund on {invoice.id}"
    now = await runtime.now_for(session, sub.test_clock_id if sub else None)
    note = CreditNoteRecord(
        id=new_id("cn"),
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        amount=amount,
        currency=invoice.currency,
        reason=f"refunded in the {provider} dashboard" + (f" ({r.reason})" if r.reason else ""),
        status=CreditNoteStatus.SUCCEEDED,
        idempotency_key=dashboard_key(provider, r.refund_id),
        charge_id=r.payment or attempt.provider_charge_id or "",
        lease_until=datetime.now(UTC),
        created_at=now,
        provider_refund_id=r.refund_id[:64],
        completed_at=now,
    )
    uow = UnitOfWork(runtime, session, f"provider:{provider}")
    refunded(uow, invoice, note, sub, now)
    uow.refunds.append(note)  # inserted at flush with the credit it returned
    await uow.flush()
    return True, f"credit note {note.id} for a {provider} dashboard refund"
