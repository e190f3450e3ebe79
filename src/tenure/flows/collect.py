"""Collecting invoices: call the provider outside any transaction, then record outcomes.

The order is always: attempt stored (committed) -> provider called -> outcome stored. A crash
between the last two leaves a pending attempt whose lease runs out; :func:`recover_stale`
then asks the provider about that idempotency key before anything else is tried.

Recording an outcome is money only: the attempt's status, the cash on the invoice (by the rules
in :mod:`tenure.billing.records`), ``invoice.paid``. What that means for the subscription is
up to the handler registered for the invoice's billing reason (:mod:`tenure.flows.outcomes`).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import service as invoices
from tenure.billing.records import (
    BillingReason,
    InvoiceStatus,
    is_paid,
    take_cash,
    take_late_cash,
)
from tenure.flows.outcomes import Settlement
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.observability import PAYMENTS
from tenure.observability.metrics import count_charge
from tenure.payments import attempts
from tenure.payments.attempts import Attempt, AttemptStatus
from tenure.payments.ports import ChargeResult, ChargeStatus, ProviderUnavailable
from tenure.subscriptions import record as subs
from tenure.subscriptions.models import Subscription

log = structlog.get_logger(__name__)

PROVIDER_CONCURRENCY: Final = 16


@dataclass(frozen=True, slots=True)
class Outcome:
    attempt_id: str
    invoice_id: str
    result: ChargeResult | None  # None: outcome unknown, the attempt stays pending


async def collect(
    runtime: Runtime, attempt_ids: Sequence[str], *, actor: str, recovering: bool = False
) -> list[Outcome]:
    """Charge the given pending attempts and record what the provider said."""
    if not attempt_ids:
        return []
    async with runtime.db.read() as session:
        pending = await attempts.load_pending(session, attempt_ids, for_update=False)
    # Provider calls are network-bound: run a bounded number at once (a renewal batch would
    # otherwise pay one round trip per invoice, in series).
    gate = asyncio.Semaphore(PROVIDER_CONCURRENCY)

    async def charge(attempt: Attempt) -> Outcome:
        async with gate:
            return await charge_attempt(runtime, attempt, recovering=recovering)

    outcomes = list(await asyncio.gather(*(charge(attempt) for attempt in pending)))
    known = [outcome for outcome in outcomes if outcome.result is not None]
    if known:
        await record_outcomes(runtime, known, actor=actor)
    return outcomes


async def charge_attempt(runtime: Runtime, attempt: Attempt, *, recovering: bool) -> Outcome:
    request = attempt.charge_request(f"Invoice {attempt.invoice_id}")
    try:
        result = await runtime.provider.lookup(request.idempotency_key) if recovering else None
        if result is None:
            result = await runtime.provider.charge(request)
    except ProviderUnavailable as error:
        log.warning("payment.outcome_unknown", attempt=attempt.id, error=str(error))
        result = None
    PAYMENTS.labels("unknown" if result is None else result.status.value).inc()
    return Outcome(attempt.id, attempt.invoice_id, result)


async def recover_stale(runtime: Runtime, *, limit: int = 100) -> int:
    """Resolve attempts left pending by a crashed caller; returns how many were resolved."""
    async with runtime.db.transaction() as session:
        ids = await attempts.claim_stale(session, wall_now=datetime.now(UTC), limit=limit)
    outcomes = await collect(runtime, ids, actor="worker:recovery", recovering=True)
    return sum(1 for outcome in outcomes if outcome.result is not None)


async def record_outcomes(runtime: Runtime, outcomes: Sequence[Outcome], *, actor: str) -> None:
    """One transaction: attempts, invoices and subscriptions move together, with their events.

    Locks are taken subscription -> invoice -> attempt, the same order every flow uses.
    """
    async with runtime.db.transaction() as session:
        await record_in(runtime, session, outcomes, actor=actor)


async def record_in(
    runtime: Runtime, session: AsyncSession, outcomes: Sequence[Outcome], *, actor: str
) -> int:
    """:func:`record_outcomes` inside the caller's transaction (a provider webhook's); returns
    how many attempts it finished (an attempt recorded by someone else first is skipped)."""
    uow = UnitOfWork(runtime, session, actor)
    invoice_ids = sorted({outcome.invoice_id for outcome in outcomes})
    unlocked = await invoices.load(session, invoice_ids)
    sub_ids = sorted({i.subscription_id for i in unlocked.values() if i.subscription_id})
    locked_subs = await subs.load(
        session, Subscription.id.in_(sub_ids), for_update=True, order_by=[Subscription.id]
    )
    by_sub = {sub.id: sub for sub in locked_subs}
    locked = await invoices.load(session, invoice_ids, for_update=True)
    still_pending = {
        attempt.id: attempt
        for attempt in await attempts.load_open(
            session, [outcome.attempt_id for outcome in outcomes], for_update=True
        )
    }
    times = await runtime.times_for(session, {s.test_clock_id for s in locked_subs} | {None})
    settled: list[Settlement] = []
    finished = 0
    for outcome in outcomes:
        attempt = still_pending.get(outcome.attempt_id)
        if attempt is None or outcome.result is None:
            continue  # another worker recorded it first
        finished += 1
        invoice = locked[outcome.invoice_id]
        sub = by_sub.get(invoice.subscription_id or "")
        at = times[sub.test_clock_id if sub else None]
        item = Settlement(invoice, sub, at, attempt, outcome.result)
        if record_money(uow, item):
            settled.append(item)
    await dispatch_settled(runtime, uow, settled)
    await uow.flush()
    return finished


def record_money(uow: UnitOfWork, item: Settlement) -> bool:
    """The attempt's outcome and the invoice's cash; ``True`` if a handler must react."""
    attempt, invoice, result = item.attempt, item.invoice, item.result
    assert attempt is not None and result is not None
    if attempt.status is AttemptStatus.REQUIRES_ACTION and attempt.awaits_action(result):
        return False  # still waiting for the customer: nothing new
    attempt.finish(result, at=item.at)
    uow.attempt_finished(attempt)
    count_charge(str(invoice.billing_reason), result.status.value, result.retryable)
    if item.sub is not None:
        uow.track(item.sub)  # its event sequence moves with every event below
    if attempt.status is AttemptStatus.REQUIRES_ACTION:
        # The customer must authenticate (3-D Secure): no failure yet; the client completes it
        # with the next_action it was handed, and the webhook or a pay settles the attempt.
        assert result.next_action is not None
        seq = item.sub.next_sequence() if item.sub else None
        uow.emit(
            invoices.invoice_event(
                "invoice.payment_action_required",
                invoice,
                at=item.at,
                sequence=seq,
                provider=result.next_action.provider,
                next_action_type=result.next_action.type,
            )
        )
        return False
    if result.status is not ChargeStatus.SUCCEEDED:
        return invoice.status is InvoiceStatus.OPEN
    charge_id = result.charge_id or ""
    if invoice.status is not InvoiceStatus.OPEN:
        # The money arrived after the invoice was closed (the subscription ended while the
        # charge was in flight): it is captured, and given back automatically.
        log.warning("payment.succeeded_on_closed_invoice", invoice=invoice.id)
        owed_back = take_late_cash(invoice, attempt.amount)
        uow.invoice_changed(invoice)
        uow.refund_late(
            invoice,
            amount=owed_back,
            charge_id=charge_id,
            at=item.at,
            reason="paid after the invoice was closed; refunded automatically",
        )
        return False
    excess = take_cash(invoice, attempt.amount, at=item.at)
    uow.invoice_changed(invoice)
    if excess:
        log.error("payment.captured_more_than_owed", invoice=invoice.id, excess=excess)
        uow.refund_late(
            invoice,
            amount=excess,
            charge_id=charge_id,
            at=item.at,
            reason="captured more than was owed; refunded automatically",
        )
    if is_paid(invoice):
        seq = item.sub.next_sequence() if item.sub else None
        uow.emit(invoices.invoice_event("invoice.paid", invoice, at=item.at, sequence=seq))
        return True
    return False  # partly paid: still open, nothing for the use case to do yet


async def dispatch_settled(
    runtime: Runtime, uow: UnitOfWork, settled: Sequence[Settlement]
) -> None:
    """Hand each outcome to the handler of its invoice's billing reason, in order."""
    grouped: dict[BillingReason, list[Settlement]] = defaultdict(list)
    for item in settled:
        grouped[item.invoice.billing_reason].append(item)
    for reason, items in grouped.items():
        await runtime.outcomes[reason].prepare(uow, items)
    for item in settled:
        handler = runtime.outcomes[item.invoice.billing_reason]
        if is_paid(item.invoice):
            handler.paid(uow, item)
        else:
            handler.failed(uow, item)
