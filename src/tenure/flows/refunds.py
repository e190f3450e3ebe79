"""Refunding a paid invoice, fully or in part, through the provider, with a credit note.

Like a charge: the credit note (with its idempotency key) is stored and committed, the provider
is called outside any transaction, then the outcome is recorded. A crash in between leaves a
pending credit note that :func:`recover_refunds` resolves by asking the provider first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import service as invoices
from tenure.billing.models import CreditNote, Invoice
from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.events.record import event_row
from tenure.events.record import record as record_events
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import Conflict, InvalidRequest
from tenure.kernel.ids import new_id
from tenure.payments.models import PaymentAttempt
from tenure.payments.ports import ProviderUnavailable, RefundRequest, RefundResult
from tenure.subscriptions import record as subs

_notes = table_of(CreditNote)
STALE: Final = timedelta(seconds=30)


async def refund(
    runtime: Runtime, *, invoice_id: str, amount: int | None, reason: str, actor: str
) -> dict[str, Any]:
    """Effects: a credit note; ``invoice.refunded`` when the provider confirms."""
    if not reason.strip():
        raise InvalidRequest(
            "say why you refund: reason must not be empty", code="refund_reason_required"
        )
    async with runtime.db.transaction() as session:
        note, charge_id = await _open_note(runtime, session, invoice_id, amount, reason)
    result = await _call(runtime, note, charge_id)
    if result is not None:
        await _record(runtime, note["id"], result)
    async with runtime.db.read() as session:
        row = (await session.execute(select(_notes).where(_notes.c.id == note["id"]))).mappings()
        return dict(row.one())


async def _open_note(
    runtime: Runtime, session: AsyncSession, invoice_id: str, amount: int | None, reason: str
) -> tuple[dict[str, Any], str]:
    invoice = await invoices.get(session, invoice_id, for_update=True)
    if invoice["status"] != "paid":
        raise Conflict(
            f"invoice {invoice_id} is {invoice['status']}; only paid invoices refund",
            code="invoice_not_paid",
        )
    pending = await session.scalar(
        select(_notes.c.id).where(_notes.c.invoice_id == invoice_id, _notes.c.status == "pending")
    )
    if pending is not None:
        raise Conflict(
            f"refund {pending} for {invoice_id} is in progress; retry shortly",
            code="refund_in_progress",
        )
    refundable = int(invoice["amount_paid"]) - int(invoice["amount_refunded"])
    wanted = refundable if amount is None else amount
    if wanted <= 0 or wanted > refundable:
        raise InvalidRequest(
            f"refund amount must be between 1 and {refundable} (what was paid and not yet "
            f"refunded, in minor units of {invoice['currency']})",
            code="refund_exceeds_paid",
            refundable=refundable,
        )
    charge_id = await session.scalar(
        select(PaymentAttempt.provider_charge_id).where(
            PaymentAttempt.invoice_id == invoice_id, PaymentAttempt.status == "succeeded"
        )
    )
    if charge_id is None:
        raise Conflict(
            f"invoice {invoice_id} was settled without a card charge", code="nothing_to_refund"
        )
    now = await runtime.now_for(session, await _clock_of(session, invoice))
    note = {
        "id": new_id("cn"),
        "invoice_id": invoice_id,
        "customer_id": invoice["customer_id"],
        "amount": wanted,
        "currency": invoice["currency"],
        "reason": reason.strip(),
        "status": "pending",
        "provider_refund_id": None,
        "failure_message": None,
        "created_at": now,
        "completed_at": None,
        "charge_id": charge_id,
        "lease_until": datetime.now(UTC) + STALE,
    }
    note["idempotency_key"] = f"{note['id']}:refund"
    await session.execute(_notes.insert().values(**note))
    return note, charge_id


async def _clock_of(session: AsyncSession, invoice: dict[str, Any]) -> str | None:
    clock: str | None = await session.scalar(
        select(PaymentAttempt.test_clock_id)
        .where(PaymentAttempt.invoice_id == invoice["id"])
        .limit(1)
    )
    return clock


async def _call(runtime: Runtime, note: dict[str, Any], charge_id: str) -> RefundResult | None:
    request = RefundRequest(
        note["idempotency_key"], charge_id, note["amount"], note["currency"], note["reason"]
    )
    try:
        return await runtime.provider.refund(request)
    except ProviderUnavailable:
        return None  # resolved later by recover_refunds


async def _record(runtime: Runtime, note_id: str, result: RefundResult) -> None:
    async with runtime.db.transaction() as session:
        unlocked = await invoices.get(session, await _invoice_of(session, note_id))
        sub = None
        if unlocked["subscription_id"]:  # lock order: subscription, invoice, note
            sub = await subs.load_one(session, unlocked["subscription_id"], for_update=True)
        invoice = await invoices.get(session, unlocked["id"], for_update=True)
        statement = select(_notes).where(_notes.c.id == note_id, _notes.c.status == "pending")
        if is_postgres(session):
            statement = statement.with_for_update()
        row = (await session.execute(statement)).mappings().first()
        if row is None:
            return  # recorded by someone else
        note = dict(row)
        now = await runtime.now_for(session, await _clock_of(session, invoice))
        status = "succeeded" if result.succeeded else "failed"
        await session.execute(
            update(_notes)
            .where(_notes.c.id == note_id)
            .values(
                status=status,
                provider_refund_id=result.refund_id,
                failure_message=result.message,
                completed_at=now,
            )
        )
        if not result.succeeded:
            return
        refunded = int(invoice["amount_refunded"]) + int(note["amount"])
        invoices_table = table_of(Invoice)
        await session.execute(
            update(invoices_table)
            .where(invoices_table.c.id == invoice["id"])
            .values(amount_refunded=refunded)
        )
        data = invoices.summary({**invoice, "amount_refunded": refunded})
        data.update(
            credit_note=note_id,
            amount_refunded=refunded,
            refund_amount=note["amount"],
            reason=note["reason"],
        )
        await record_events(
            session,
            [
                event_row(
                    "invoice.refunded",
                    created=now,
                    data=data,
                    customer_id=invoice["customer_id"],
                    subscription_id=sub.id if sub else None,
                    sequence=sub.next_sequence() if sub else None,
                )
            ],
        )
        if sub is not None:
            await subs.save(session, [sub])


async def _invoice_of(session: AsyncSession, note_id: str) -> str:
    return str(await session.scalar(select(_notes.c.invoice_id).where(_notes.c.id == note_id)))


async def recover_refunds(runtime: Runtime) -> int:
    """Resolve credit notes left pending by a crash: ask the provider about the key first, and
    only if it never saw it, send the refund again with the same key."""
    now = datetime.now(UTC)
    async with runtime.db.transaction() as session:
        statement = (
            select(_notes)
            .where(_notes.c.status == "pending", _notes.c.lease_until < now)
            .limit(100)
        )
        if is_postgres(session):
            statement = statement.with_for_update(skip_locked=True)
        rows = [dict(row) for row in (await session.execute(statement)).mappings()]
        if rows:
            await session.execute(
                update(_notes)
                .where(_notes.c.id.in_([r["id"] for r in rows]))
                .values(lease_until=now + STALE)
            )
    resolved = 0
    for note in rows:
        try:
            result = await runtime.provider.lookup_refund(note["idempotency_key"])
        except ProviderUnavailable:
            continue
        result = result or await _call(runtime, note, note["charge_id"])
        if result is not None:
            await _record(runtime, note["id"], result)
            resolved += 1
    return resolved


async def schedule_refund(
    session: AsyncSession,
    *,
    invoice: dict[str, Any],
    amount: int,
    charge_id: str,
    reason: str,
    at: datetime,
) -> str:
    """Queue a refund inside the caller's transaction; the worker sends it on its next pass
    (the lease starts expired), with the usual ask-first recovery if it crashes."""
    note_id = new_id("cn")
    await session.execute(
        _notes.insert().values(
            id=note_id,
            invoice_id=invoice["id"],
            customer_id=invoice["customer_id"],
            amount=amount,
            currency=invoice["currency"],
            reason=reason,
            status="pending",
            idempotency_key=f"{note_id}:refund",
            charge_id=charge_id,
            lease_until=datetime.now(UTC) - timedelta(seconds=1),
            provider_refund_id=None,
            failure_message=None,
            created_at=at,
            completed_at=None,
        )
    )
    invoices_table = table_of(Invoice)
    await session.execute(
        update(invoices_table)
        .where(invoices_table.c.id == invoice["id"])
        .values(amount_paid=invoices_table.c.amount_paid + amount)
    )
    return note_id
