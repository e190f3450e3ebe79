"""Money a store moved, recorded once: each store transaction is a paid invoice, each store
refund a credit note on it, through the money rules of ``billing/records.py``.

A store transaction's id is the primary key of ``store_transactions``, so a duplicate or
replayed notification, a reconciliation that reads the same history again, or two workers at
once record it once. Tenure never charges or refunds a store subscription itself: the invoice
is created ``open`` and paid with the store's captured amount in the same transaction
(:func:`take_cash`), so revenue and refunds read exactly like a web subscription's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Final

from sqlalchemy import select

from tenure.billing import service as invoices
from tenure.billing.invoicing import LineDraft, TaxRule, build_invoice
from tenure.billing.models import Invoice
from tenure.billing.records import (
    CREDIT_NOTE,
    PERIOD_REASONS,
    BillingReason,
    CreditNoteAction,
    CreditNoteRecord,
    CreditNoteStatus,
    InvoiceRecord,
    record_refund,
    reverse_refund,
    take_cash,
)
from tenure.flows.unit import UnitOfWork
from tenure.kernel.ids import new_id
from tenure.kernel.money import round_half_up
from tenure.stores import records
from tenure.stores.facts import StoreFacts, StoreTxn
from tenure.subscriptions.record import Sub
from tenure.subscriptions.state import Status

STORE_TAX: Final = {
    "app_store": "collected by the App Store",
    "google_play": "collected by Google Play",
}


@dataclass
class MoneyMoved:
    recorded: int = 0  # new transactions
    invoices: int = 0
    refunds: int = 0
    reversals: int = 0


async def record(
    uow: UnitOfWork, sub: Sub, link_id: str, facts: StoreFacts, *, at: datetime, first: bool
) -> MoneyMoved:
    moved = MoneyMoved()
    for txn in facts.transactions:
        if await _record_txn(uow, sub, link_id, facts, txn, at=at, first=first):
            moved.recorded += 1
            first = False
    moved.invoices = moved.recorded
    for txn_id in facts.refunds:
        moved.refunds += await _refund(uow, sub, facts, txn_id, at=at)
    for txn_id in facts.refund_reversals:
        moved.reversals += await _reverse(uow, sub, facts, txn_id, at=at)
    return moved


def _charged(txn: StoreTxn) -> int:
    if txn.price is None or txn.free_trial or txn.family_shared:
        return 0
    return txn.price.amount


async def _reason(uow: UnitOfWork, sub: Sub, txn: StoreTxn, *, first: bool) -> BillingReason:
    if txn.upgrade and not first:
        return BillingReason.SUBSCRIPTION_UPDATE
    reason = BillingReason.SUBSCRIPTION_CYCLE
    if first:
        reason = BillingReason.SUBSCRIPTION_CREATE
    elif sub.state is Status.TRIALING or sub.trial_end == txn.purchased_at:
        reason = BillingReason.TRIAL_END
    # Invoices that bill a whole period are unique per period start; a store that reports two
    # charges starting at the same instant (a crossgrade) bills the second inside the period.
    taken = await uow.session.scalar(
        select(Invoice.id).where(
            Invoice.subscription_id == sub.id,
            Invoice.period_start == txn.purchased_at,
            Invoice.billing_reason.in_([r.value for r in PERIOD_REASONS]),
        )
    )
    return BillingReason.SUBSCRIPTION_UPDATE if taken else reason


async def _record_txn(
    uow: UnitOfWork,
    sub: Sub,
    link_id: str,
    facts: StoreFacts,
    txn: StoreTxn,
    *,
    at: datetime,
    first: bool,
) -> bool:
    amount = _charged(txn)
    invoice: InvoiceRecord | None = None
    if amount > 0 and txn.price is not None:
        currency = txn.price.currency
        end = txn.expires_at if txn.expires_at and txn.expires_at > txn.purchased_at else None
        period_end = end or txn.purchased_at
        plan = uow.runtime.catalog.plans.get(sub.plan_id)
        name = sub.plan_id if plan is None else uow.runtime.catalog.product_of(plan).name
        line = LineDraft(
            f"{name} ({facts.channel.value.replace('_', ' ')})",
            sub.plan_id,
            txn.purchased_at,
            period_end,
            amount,
        )
        invoice = build_invoice(
            customer_id=sub.customer_id,
            subscription_id=sub.id,
            currency=currency,
            billing_reason=await _reason(uow, sub, txn, first=first),
            period_start=txn.purchased_at,
            period_end=period_end,
            lines=[line],
            # The store is the merchant of record: its price includes the tax it remits.
            tax=TaxRule(inclusive=True, rate=Fraction(0), name=STORE_TAX[facts.channel.value]),
            created_at=at,
        )
    inserted = await records.insert_transaction(
        uow.session,
        {
            "channel": facts.channel.value,
            "transaction_id": txn.transaction_id,
            "store_subscription_id": link_id,
            "subscription_id": sub.id,
            "invoice_id": invoice.id if invoice else None,
            "product_id": txn.product_id,
            "amount": None if txn.price is None else amount,
            "currency": None if txn.price is None else txn.price.currency,
            "purchased_at": txn.purchased_at,
            "expires_at": txn.expires_at,
            "refunded_amount": 0,
            "refunded_at": None,
            "created_at": at,
        },
    )
    if not inserted or invoice is None:
        return inserted
    seq = sub.next_sequence
    uow.add_invoice(invoice)
    uow.emit(invoices.invoice_event("invoice.created", invoice, at=at, sequence=seq()))
    take_cash(invoice, invoice.total, at=at)
    uow.emit(invoices.invoice_event("invoice.paid", invoice, at=at, sequence=seq()))
    return True


async def _refund(
    uow: UnitOfWork, sub: Sub, facts: StoreFacts, txn_id: str, *, at: datetime
) -> int:
    found = (await records.transactions(uow.session, facts.channel.value, [txn_id])).get(txn_id)
    if found is None or found.invoice_id is None or not found.amount:
        return 0
    share = next((t.refund_share for t in facts.transactions if t.transaction_id == txn_id), None)
    target = round_half_up(Fraction(found.amount * (share or 100_000), 100_000))
    delta = target - found.refunded_amount
    if delta <= 0:
        return 0  # already recorded: a duplicate, a replay, or a reconciliation re-reading it
    invoice = await invoices.get(uow.session, found.invoice_id, for_update=True)
    delta = min(delta, invoice.amount_paid - invoice.amount_refunded)
    if delta <= 0:
        return 0
    record_refund(invoice, delta)
    note_id = new_id("cn")
    note = CreditNoteRecord(
        id=note_id,
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        amount=delta,
        currency=invoice.currency,
        reason=f"refunded by {STORE_TAX[facts.channel.value].removeprefix('collected by ')}",
        status=CreditNoteStatus.SUCCEEDED,
        idempotency_key=f"{facts.channel.value}:{txn_id}:refund:{found.refunded_amount + delta}",
        charge_id=txn_id[:64],
        lease_until=datetime.now(UTC),
        created_at=at,
        completed_at=at,
    )
    uow.refunds.append(note)
    uow.invoice_changed(invoice)
    await records.set_refunded(
        uow.session, facts.channel.value, txn_id, found.refunded_amount + delta, at
    )
    uow.emit(
        invoices.invoice_event(
            "invoice.refunded",
            invoice,
            at=at,
            sequence=sub.next_sequence(),
            credit_note=note_id,
            amount_refunded=invoice.amount_refunded,
            refund_amount=delta,
            reason=note.reason,
        )
    )
    return 1


async def _reverse(
    uow: UnitOfWork, sub: Sub, facts: StoreFacts, txn_id: str, *, at: datetime
) -> int:
    found = (await records.transactions(uow.session, facts.channel.value, [txn_id])).get(txn_id)
    if found is None or found.invoice_id is None or found.refunded_amount <= 0:
        return 0
    invoice = await invoices.get(uow.session, found.invoice_id, for_update=True)
    amount = min(found.refunded_amount, invoice.amount_refunded)
    if amount <= 0:
        return 0
    reverse_refund(invoice, amount)
    notes = [
        note
        for note in await invoices.credit_notes_of(uow.session, invoice.id)
        if note.status is CreditNoteStatus.SUCCEEDED and note.charge_id == txn_id[:64]
    ]
    for note in notes:
        note.status = CREDIT_NOTE.next(note.status, CreditNoteAction.REVERSE)
        note.completed_at = at
    await invoices.save_notes(uow.session, notes)
    uow.invoice_changed(invoice)
    await records.set_refunded(uow.session, facts.channel.value, txn_id, 0, None)
    uow.emit(
        invoices.invoice_event(
            "invoice.refund_reversed",
            invoice,
            at=at,
            sequence=sub.next_sequence(),
            amount_refunded=invoice.amount_refunded,
            reversed_amount=amount,
        )
    )
    return 1
