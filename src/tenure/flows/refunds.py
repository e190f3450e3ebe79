"""Refunding a paid invoice's cash, fully or in part, through the provider, with a credit note.

Like a charge: the credit note (with its idempotency key) is stored and committed, the provider
is called outside any transaction, then the outcome is recorded. A crash in between leaves a
pending credit note that :func:`recover_refunds` resolves by asking the provider first.

What may be refunded is :func:`tenure.billing.records.refundable` (cash captured - cash
refunded); a request above it records nothing. When a refund returns the last of an invoice's
cash, the credit the invoice used goes back to the balance (``credit_returned``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.access import audit
from tenure.billing import disputes
from tenure.billing import service as invoices
from tenure.billing.records import (
    CreditNoteRecord,
    CreditNoteStatus,
    InvoiceRecord,
    InvoiceStatus,
    record_refund,
    refundable,
)
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.errors import Conflict, InvalidRequest, PaymentRequired
from tenure.kernel.ids import new_id
from tenure.payments import attempts
from tenure.payments.ports import ProviderUnavailable, RefundRequest, RefundResult
from tenure.subscriptions import record as subs
from tenure.subscriptions.channels import require_web_invoice

STALE: Final = timedelta(seconds=30)
# A refund the provider accepted but confirms by webhook: ask again after this if none came.
AWAIT_CONFIRMATION: Final = timedelta(minutes=15)


class RefundExceedsPaid(InvalidRequest):
    code = "refund_exceeds_paid"


class RefundDeclined(PaymentRequired):
    code = "refund_declined"
    title = "Refund declined"


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    note: CreditNoteRecord
    settled: bool  # False: the provider did not answer; the worker finishes it later


async def refund(
    runtime: Runtime, *, invoice_id: str, amount: int | None, reason: str, actor: str
) -> RefundOutcome:
    """Effects: a credit note; ``invoice.refunded`` when the provider confirms (at once, or by
    its webhook: the note is ``pending`` until then). A refund the provider refuses raises
    :class:`RefundDeclined` (402), with the failed note recorded."""
    if not reason.strip():
        raise InvalidRequest(
            "say why you refund: reason must not be empty", code="refund_reason_required"
        )
    async with runtime.db.transaction() as session:
        note = await _open_note(runtime, session, invoice_id, amount, reason)
        await audit.write(
            session,
            actor=actor,
            action="refund_invoice",
            target_type="invoice",
            target_id=invoice_id,
            customer_id=note.customer_id,
            after={"credit_note": note.id, "amount": note.amount, "currency": note.currency},
            reason=note.reason,
        )
    result = await _call(runtime, note)
    if result is not None:
        await _record(runtime, note.id, result, actor=actor)
    async with runtime.db.read() as session:
        note = await invoices.get_note(session, note.id)
    if note.status is CreditNoteStatus.FAILED:
        raise RefundDeclined(
            f"the payment provider refused the refund: {note.failure_message or 'no reason'}",
            credit_note=note.id,
            invoice=invoice_id,
        )
    return RefundOutcome(note, settled=note.status is CreditNoteStatus.SUCCEEDED)


async def _open_note(
    runtime: Runtime, session: AsyncSession, invoice_id: str, amount: int | None, reason: str
) -> CreditNoteRecord:
    invoice = await invoices.get(session, invoice_id, for_update=True)
    await require_web_invoice(session, invoice.subscription_id, "refund its invoices")
    if invoice.status is not InvoiceStatus.PAID:
        raise Conflict(
            f"invoice {invoice_id} is {invoice.status.value}; only paid invoices refund",
            code="invoice_not_paid",
        )
    pending = await invoices.pending_note_for(session, invoice_id)
    if pending is not None:
        raise Conflict(
            f"refund {pending} for {invoice_id} is in progress; retry shortly",
            code="refund_in_progress",
        )
    held = [
        d.id
        for d in (await disputes.for_invoices(session, [invoice_id])).get(invoice_id, [])
        if d.status in disputes.HOLDING
    ]
    if held:
        raise Conflict(
            f"invoice {invoice_id} is disputed ({held[0]}): the bank holds its payment, so it "
            "cannot be refunded",
            code="invoice_disputed",
        )
    charge = await attempts.succeeded_charge(session, invoice_id)
    if charge is None or charge.provider_charge_id is None:
        raise Conflict(
            f"invoice {invoice_id} was settled without a card charge (by credit); there is no "
            "cash to refund",
            code="nothing_to_refund",
        )
    available = refundable(invoice)
    wanted = available if amount is None else amount
    if wanted <= 0 or wanted > available:
        raise RefundExceedsPaid(
            f"refund amount must be between 1 and {available} (the cash paid and not yet "
            f"refunded, in minor units of {invoice.currency})",
            refundable=available,
        )
    now = await runtime.now_for(session, charge.test_clock_id)
    note_id = new_id("cn")
    note = CreditNoteRecord(
        id=note_id,
        invoice_id=invoice_id,
        customer_id=invoice.customer_id,
        amount=wanted,
        currency=invoice.currency,
        reason=reason.strip(),
        status=CreditNoteStatus.PENDING,
        idempotency_key=f"{note_id}:refund",
        charge_id=charge.provider_charge_id,
        lease_until=datetime.now(UTC) + STALE,
        created_at=now,
    )
    await invoices.insert_note(session, note)
    return note


async def queue_refund(
    session: AsyncSession, invoice: InvoiceRecord, amount: int, reason: str, *, at: datetime
) -> CreditNoteRecord | None:
    """Store a pending credit note refunding ``amount`` of a paid invoice's cash, inside the
    caller's transaction (another use case's, such as a cancel with refund); the caller sends
    it after commit with :func:`send_refunds`, and :func:`recover_refunds` finishes it after a
    crash. ``None`` when there is no card charge to refund or a refund is already in flight."""
    if amount <= 0 or amount > refundable(invoice):
        return None
    if await invoices.pending_note_for(session, invoice.id) is not None:
        return None
    charge = await attempts.succeeded_charge(session, invoice.id)
    if charge is None or charge.provider_charge_id is None:
        return None
    note_id = new_id("cn")
    note = CreditNoteRecord(
        id=note_id,
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        amount=amount,
        currency=invoice.currency,
        reason=reason,
        status=CreditNoteStatus.PENDING,
        idempotency_key=f"{note_id}:refund",
        charge_id=charge.provider_charge_id,
        lease_until=datetime.now(UTC) + STALE,
        created_at=at,
    )
    await invoices.insert_note(session, note)
    return note


async def send_refunds(runtime: Runtime, notes: list[CreditNoteRecord], *, actor: str) -> None:
    """Send queued refunds to the provider (outside any transaction) and record the outcomes;
    one the provider does not answer stays pending for :func:`recover_refunds`."""
    for note in notes:
        result = await _call(runtime, note)
        if result is not None:
            await _record(runtime, note.id, result, actor=actor)


async def _call(runtime: Runtime, note: CreditNoteRecord) -> RefundResult | None:
    request = RefundRequest(
        note.idempotency_key, note.charge_id, note.amount, note.currency, note.reason
    )
    try:
        return await runtime.provider.refund(request)
    except ProviderUnavailable:
        return None  # resolved later by recover_refunds


async def _record(runtime: Runtime, note_id: str, result: RefundResult, *, actor: str) -> None:
    async with runtime.db.transaction() as session:
        unlocked = await invoices.get(
            session, (await invoices.get_note(session, note_id)).invoice_id
        )
        sub = None
        if unlocked.subscription_id:  # lock order: subscription, invoice, note
            sub = await subs.load_one(session, unlocked.subscription_id, for_update=True)
        invoice = await invoices.get(session, unlocked.id, for_update=True)
        note = await invoices.get_note(session, note_id, for_update=True)
        if note.status is not CreditNoteStatus.PENDING:
            return  # recorded by someone else
        if result.succeeded and not result.settled:
            # Accepted, confirmed later by the provider's webhook (Adyen's "received", a Stripe
            # refund "pending"): the note stays pending, and the sweep asks again only after
            # AWAIT_CONFIRMATION if the webhook never comes.
            note.provider_refund_id = result.refund_id
            note.lease_until = datetime.now(UTC) + AWAIT_CONFIRMATION
            await invoices.save_notes(session, [note])
            return
        now = await runtime.now_for(session, sub.test_clock_id if sub else None)
        note.finish(
            succeeded=result.succeeded, refund_id=result.refund_id, message=result.message, at=now
        )
        uow = UnitOfWork(runtime, session, actor)
        if result.succeeded:
            refunded(uow, invoice, note, sub, now)
        await invoices.save_notes(session, [note])
        await uow.flush()


def refunded(
    uow: UnitOfWork,
    invoice: InvoiceRecord,
    note: CreditNoteRecord,
    sub: subs.Sub | None,
    now: datetime,
) -> None:
    note.credit_returned = record_refund(invoice, note.amount)
    uow.invoice_changed(invoice)
    uow.give_back(invoice, note.credit_returned, reason="invoice_refunded", at=now)
    if sub is not None:
        uow.track(sub)
    uow.emit(
        invoices.invoice_event(
            "invoice.refunded",
            invoice,
            at=now,
            sequence=sub.next_sequence() if sub else None,
            credit_note=note.id,
            amount_refunded=invoice.amount_refunded,
            refund_amount=note.amount,
            credit_returned=note.credit_returned,
            reason=note.reason,
        )
    )


async def recover_refunds(runtime: Runtime) -> int:
    """Resolve credit notes left pending by a crash (or queued for a late payment): ask the
    provider about the key first, and only if it never saw it, send the refund with the same
    key."""
    async with runtime.db.transaction() as session:
        notes = await invoices.claim_stale_notes(
            session, wall_now=datetime.now(UTC), lease=STALE, limit=100
        )
    resolved = 0
    for note in notes:
        try:
            result = await runtime.provider.lookup_refund(note.idempotency_key)
        except ProviderUnavailable:
            continue
        result = result or await _call(runtime, note)
        if result is not None:
            await _record(runtime, note.id, result, actor="worker:refunds")
            resolved += 1
    return resolved
