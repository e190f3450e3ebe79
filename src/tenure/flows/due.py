"""The due-work batch: trial notices, renewals, expiries, dunning steps, for real time or one
test clock.

One transaction claims a batch of subscriptions whose ``next_action_at`` has passed
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers can run), decides each
one's action with the pure :func:`schedule.due_action`, and writes every change through one
unit of work (a few set-based statements). Charges for the invoices it created happen after
commit (:mod:`collect`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import balance, offers, promotions
from tenure.billing import service as invoices
from tenure.billing.models import Invoice
from tenure.billing.records import void
from tenure.dunning.cases import CaseAction
from tenure.flows import dunning, pausing, starts
from tenure.flows.collect import collect
from tenure.flows.opening import open_invoice
from tenure.flows.renewal import Renewals, renewed
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.payments import attempts
from tenure.payments.attempts import AttemptStatus
from tenure.payments.models import PaymentAttempt
from tenure.subscriptions import items as item_rows
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.items import ItemStatus
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.record import Sub
from tenure.subscriptions.schedule import Due, due_action
from tenure.subscriptions.state import TERMINAL_STATUSES, Action, Status

BATCH_SIZE: Final = 500
# An incomplete subscription whose first payment is still pending (the provider could not be
# asked) is looked at again this much later instead of expiring.
RECHECK_PENDING: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class BatchResult:
    processed: int
    attempt_ids: list[str]
    invoice_ids: list[str] = field(default_factory=list)  # the period invoices it issued


async def run_due(
    runtime: Runtime,
    *,
    test_clock_id: str | None,
    now: datetime,
    actor: str,
    limit: int = BATCH_SIZE,
    only: str | None = None,
) -> int:
    """Process one batch and collect its payments; returns how many subscriptions it handled.

    ``only``: just this subscription, if it is due (``tenure subscription rerun``).
    """
    await _resolve_first_payments(runtime, test_clock_id, now, actor, limit, only)
    async with runtime.db.transaction() as session:
        batch = await process_batch(
            runtime,
            session,
            test_clock_id=test_clock_id,
            now=now,
            actor=actor,
            limit=limit,
            only=only,
        )
    await collect(runtime, batch.attempt_ids, actor=actor)
    return batch.processed


async def _resolve_first_payments(
    runtime: Runtime,
    test_clock_id: str | None,
    now: datetime,
    actor: str,
    limit: int,
    only: str | None,
) -> None:
    """Before an incomplete subscription expires, its pending first payment is resolved: the
    provider is asked by the attempt's idempotency key (and the same request is repeated if it
    never arrived), so a charge that went through activates the subscription instead of being
    voided with it. Outside any transaction, like every provider call."""
    async with runtime.db.read() as session:
        ids = await session.scalars(
            select(PaymentAttempt.id)
            .join(Invoice, Invoice.id == PaymentAttempt.invoice_id)
            .join(Subscription, Subscription.id == Invoice.subscription_id)
            .where(
                _scope(test_clock_id, only),
                Subscription.status == Status.INCOMPLETE.value,
                Subscription.next_action_at <= now,
                PaymentAttempt.status == AttemptStatus.PENDING.value,
            )
            .limit(limit)
        )
        pending = list(ids.all())
    if pending:
        await collect(runtime, pending, actor=actor, recovering=True)


def _scope(test_clock_id: str | None, only: str | None) -> Any:
    """Real time or one test clock; ``only`` narrows it to one subscription."""
    scope = (
        Subscription.test_clock_id.is_(None)
        if test_clock_id is None
        else Subscription.test_clock_id == test_clock_id
    )
    return scope if only is None else scope & (Subscription.id == only)


async def process_batch(
    runtime: Runtime,
    session: AsyncSession,
    *,
    test_clock_id: str | None,
    now: datetime,
    actor: str,
    limit: int,
    only: str | None = None,
) -> BatchResult:
    claimed = await subs.load(
        session,
        _scope(test_clock_id, only),
        Subscription.next_action_at <= now,
        for_update=True,
        skip_locked=True,
        order_by=[Subscription.next_action_at, Subscription.id],
        limit=limit,
    )
    uow = UnitOfWork(runtime, session, actor)
    ids = [sub.id for sub in claimed]
    renewals = Renewals(
        now,
        await promotions.active_for(session, ids),
        addons=dict(await item_rows.attached(session, ids, statuses=[ItemStatus.ACTIVE.value])),
        offers=await offers.active_for(session, ids),
    )
    ends = _Ends(waiting=await _first_payment_pending(session, claimed, now))
    for sub in claimed:
        uow.track(sub)
        _decide(uow, sub, now, renewals, ends)
    ended_void, ended_canceled = ends.void, ends.canceled
    exhausted, retrying = ends.exhausted, ends.retrying
    # Credit first, then what is still owed is charged (or the invoice is paid on the spot).
    await balance.settle(session, [invoice for invoice, _ in renewals.drafts], at=now)
    attempt_ids = []
    for invoice, sub in renewals.drafts:
        attempt = open_invoice(uow, invoice, sub, payment_method=sub.payment_method, at=now)
        if attempt is not None:
            attempt_ids.append(attempt.id)
        else:
            renewed(uow, sub, now)
    await dunning.write_off_open(uow, [*exhausted, *ended_canceled], now)
    await _void_open(uow, ended_void, now)
    await dunning.close_cases(uow, exhausted, action=CaseAction.EXHAUST, at=now)
    others = [sub for sub in claimed if sub.state in TERMINAL_STATUSES and sub not in exhausted]
    await dunning.close_cases(uow, others, action=CaseAction.END, at=now)
    attempt_ids += [a.id for a in await dunning.retry_attempts(uow, retrying, now)]
    await uow.flush()
    return BatchResult(
        processed=len(claimed),
        attempt_ids=attempt_ids,
        invoice_ids=[invoice.id for invoice, _ in renewals.drafts],
    )


@dataclass
class _Ends:
    """What the batch decided that needs set-based follow-up work after the loop."""

    void: list[Sub] = field(default_factory=list)  # incomplete timed out: void the invoice
    canceled: list[Sub] = field(default_factory=list)  # ended at period end: write off
    exhausted: list[Sub] = field(default_factory=list)  # dunning ran out
    retrying: list[Sub] = field(default_factory=list)  # a ladder retry is due
    waiting: set[str] = field(default_factory=set)  # incomplete, first payment still in flight


def _decide(uow: UnitOfWork, sub: Sub, now: datetime, renewals: Renewals, ends: _Ends) -> None:
    """Apply what is due for ``sub`` at ``now`` (the pure :func:`due_action` decides)."""
    due = due_action(sub.timeline(), now)
    if due in _NOTICES_AND_ENDS:
        _trial_due(uow, sub, due, now)
    elif due is Due.START and not starts.start(uow, sub, now, renewals):
        starts.cannot_start(uow, sub, now)
    elif due is Due.INCOMPLETE_EXPIRY:
        _expire_incomplete(uow, sub, now, ends.waiting, ends.void)
    elif due is Due.END_CANCELED:
        _end(uow, sub, Action.PERIOD_ENDED_CANCELED, "canceled", sub.current_period_end, now)
        ends.canceled.append(sub)
    elif due is Due.GRACE_EXPIRY:
        dunning.grace_expired(uow, sub, now)
    elif due is Due.DUNNING_EXHAUSTED:
        dunning.exhausted(uow, sub, now)
        ends.exhausted.append(sub)
    elif due is Due.RETRY_PAYMENT:
        dunning.retry_due(sub, now)
        ends.retrying.append(sub)
    elif due in _RETENTION:
        _retention(uow, sub, due, now, ends)
    elif due is Due.RESUME or due is Due.RENEW:
        _renew(uow, sub, now, renewals, ends, resume=due is Due.RESUME)
    elif due is None:
        sub.reschedule(now)  # next_action_at was stale; recompute it


def _renew(
    uow: UnitOfWork, sub: Sub, now: datetime, renewals: Renewals, ends: _Ends, *, resume: bool
) -> None:
    """The next period is billed: at the period end, or when a pause ends (it resumes first)."""
    ended = pausing.resume(uow, sub, now, reason="pause_ended") if resume else None
    renewed_ok = renewals.renew(uow, sub)
    if resume:  # every resume has its event, even one that ends just after
        pausing.resumed_event(uow, sub, now, ended)
    if not renewed_ok:
        # A plan removed from the catalog cannot be billed; end it visibly instead of
        # looping on it.
        reason = "plan_unavailable"
        _end(uow, sub, Action.PERIOD_ENDED_CANCELED, reason, sub.current_period_end, now)
        ends.canceled.append(sub)


_NOTICES_AND_ENDS: Final = frozenset(
    {Due.TRIAL_NOTICE, Due.TRIAL_EXPIRY, Due.EXPIRY_NOTICE, Due.PREPAID_END}
)


def _trial_due(uow: UnitOfWork, sub: Sub, due: Due, now: datetime) -> None:
    """The notice before a trial or a prepaid term ends; the end of a trial that has no payment
    method to charge (``trial_ended_without_payment``) or of a prepaid term (``prepaid_ended``):
    it expires and nothing is billed."""
    if due in (Due.TRIAL_NOTICE, Due.EXPIRY_NOTICE):
        sub.trial_notice_sent = True
        sub.reschedule(now)
        kind = "trial_will_end" if due is Due.TRIAL_NOTICE else "expiring_soon"
        uow.emit(sub.event(f"subscription.{kind}", at=now))
    elif due is Due.PREPAID_END:
        _end(uow, sub, Action.PREPAID_ENDED, "prepaid_ended", sub.current_period_end, now)
    else:
        reason = "trial_ended_without_payment"
        _end(uow, sub, Action.TRIAL_EXPIRED, reason, sub.current_period_end, now)


def _expire_incomplete(
    uow: UnitOfWork, sub: Sub, now: datetime, waiting: set[str], ended: list[Sub]
) -> None:
    if sub.id in waiting:
        sub.next_action_at = now + RECHECK_PENDING  # the provider could not say yet
        return
    _end(uow, sub, Action.INCOMPLETE_TIMED_OUT, "incomplete_expired", now, now)
    ended.append(sub)


async def _first_payment_pending(
    session: AsyncSession, claimed: list[Sub], now: datetime
) -> set[str]:
    """Subscriptions due to expire as incomplete whose open invoice has an attempt in flight."""
    expiring = {
        sub.id for sub in claimed if due_action(sub.timeline(), now) is Due.INCOMPLETE_EXPIRY
    }
    if not expiring:
        return set()
    rows = await invoices.open_for_subscriptions(session, list(expiring), for_update=False)
    pending = await attempts.pending_invoices(session, [invoice.id for invoice in rows])
    return {invoice.subscription_id or "" for invoice in rows if invoice.id in pending}


_RETENTION = frozenset({Due.END_PRICE_DECLINED, Due.START_PAUSE, Due.PAUSE_NOTICE})


def _retention(uow: UnitOfWork, sub: Sub, due: Due, now: datetime, ends: _Ends) -> None:
    """The retention levers' due work (docs/retention.md)."""
    if due is Due.END_PRICE_DECLINED:
        # An opt-in price increase was not accepted: the subscription ends instead of renewing.
        sub.cancel_reason, sub.cancel_comment = "price_change_declined", None
        end_at = sub.current_period_end
        _end(uow, sub, Action.PERIOD_ENDED_CANCELED, "price_change_declined", end_at, now)
        ends.canceled.append(sub)
    elif due is Due.START_PAUSE:
        pausing.start_scheduled(uow, sub, now)
    else:
        pausing.notice(uow, sub, now)


def _end(
    uow: UnitOfWork, sub: Sub, action: Action, reason: str, ended_at: datetime, now: datetime
) -> None:
    sub.ended_at = ended_at
    sub.ended_reason = reason
    cancel = sub.pending.pop(ChangeKind.CANCEL, None)
    if cancel is not None:
        applied = action is Action.PERIOD_ENDED_CANCELED
        uow.close_change(cancel.id, status="applied" if applied else "canceled", at=now)
    uow.drop_pending(sub, at=now)
    uow.record(sub.apply(action, at=now, actor=uow.actor, reason=reason))
    event = (
        "subscription.incomplete_expired"
        if action is Action.INCOMPLETE_TIMED_OUT
        else "subscription.expired"
    )
    uow.emit(sub.event(event, at=now, reason=reason))


async def _void_open(uow: UnitOfWork, ended: list[Sub], now: datetime) -> None:
    """The first invoice of an incomplete subscription that timed out is void; its credit goes
    back to the balance."""
    if not ended:
        return
    by_id = {sub.id: sub for sub in ended}
    for invoice in await invoices.open_for_subscriptions(uow.session, list(by_id), for_update=True):
        sub = by_id[invoice.subscription_id or ""]
        uow.give_back(invoice, void(invoice, at=now), reason="invoice_voided", at=now)
        uow.invoice_changed(invoice)
        uow.emit(
            invoices.invoice_event("invoice.voided", invoice, at=now, sequence=sub.next_sequence())
        )
