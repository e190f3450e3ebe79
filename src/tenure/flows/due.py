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
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import balance, offers, promotions
from tenure.billing import service as invoices
from tenure.billing.records import void
from tenure.dunning.cases import CaseAction
from tenure.flows import dunning, pausing
from tenure.flows.collect import collect
from tenure.flows.opening import open_invoice
from tenure.flows.renewal import Renewals, renewed
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.record import Sub
from tenure.subscriptions.schedule import Due, due_action
from tenure.subscriptions.state import TERMINAL_STATUSES, Action

BATCH_SIZE: Final = 500


@dataclass(frozen=True, slots=True)
class BatchResult:
    processed: int
    attempt_ids: list[str]


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
        now, await promotions.active_for(session, ids), offers=await offers.active_for(session, ids)
    )
    lists = _Lists()
    for sub in claimed:
        uow.track(sub)
        _decide(uow, sub, due_action(sub.timeline(), now), now, renewals, lists)
    ended_void, ended_canceled = lists.ended_void, lists.ended_canceled
    exhausted, retrying = lists.exhausted, lists.retrying
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
    return BatchResult(processed=len(claimed), attempt_ids=attempt_ids)


@dataclass
class _Lists:
    """The batch's subscriptions that need set-based work after every decision is made."""

    ended_void: list[Sub] = field(default_factory=list)
    ended_canceled: list[Sub] = field(default_factory=list)
    exhausted: list[Sub] = field(default_factory=list)
    retrying: list[Sub] = field(default_factory=list)


def _decide(
    uow: UnitOfWork, sub: Sub, due: Due | None, now: datetime, renewals: Renewals, lists: _Lists
) -> None:
    if due is Due.TRIAL_NOTICE:
        sub.trial_notice_sent = True
        sub.reschedule(now)
        uow.emit(sub.event("subscription.trial_will_end", at=now))
    elif due is Due.INCOMPLETE_EXPIRY:
        _end(uow, sub, Action.INCOMPLETE_TIMED_OUT, "incomplete_expired", now, now)
        lists.ended_void.append(sub)
    elif due is Due.END_CANCELED:
        _end(uow, sub, Action.PERIOD_ENDED_CANCELED, "canceled", sub.current_period_end, now)
        lists.ended_canceled.append(sub)
    elif due is Due.GRACE_EXPIRY:
        dunning.grace_expired(uow, sub, now)
    elif due is Due.DUNNING_EXHAUSTED:
        dunning.exhausted(uow, sub, now)
        lists.exhausted.append(sub)
    elif due is Due.RETRY_PAYMENT:
        dunning.retry_due(sub, now)
        lists.retrying.append(sub)
    elif due in _RETENTION:
        _retention(uow, sub, due, now, lists)
    elif due is Due.RESUME or due is Due.RENEW:
        ended = pausing.resume(uow, sub, now, reason="pause_ended") if due is Due.RESUME else None
        renewed_ok = renewals.renew(uow, sub)
        if due is Due.RESUME:  # every resume has its event, even one that ends just after
            pausing.resumed_event(uow, sub, now, ended)
        if not renewed_ok:
            # A plan removed from the catalog cannot be billed; end it visibly instead of
            # looping on it.
            end_at = sub.current_period_end
            _end(uow, sub, Action.PERIOD_ENDED_CANCELED, "plan_unavailable", end_at, now)
            lists.ended_canceled.append(sub)
    else:
        sub.reschedule(now)  # next_action_at was stale; recompute it


_RETENTION = frozenset({Due.END_PRICE_DECLINED, Due.START_PAUSE, Due.PAUSE_NOTICE})


def _retention(uow: UnitOfWork, sub: Sub, due: Due, now: datetime, lists: _Lists) -> None:
    """The retention levers' due work (docs/retention.md)."""
    if due is Due.END_PRICE_DECLINED:
        # An opt-in price increase was not accepted: the subscription ends instead of renewing.
        sub.cancel_reason, sub.cancel_comment = "price_change_declined", None
        end_at = sub.current_period_end
        _end(uow, sub, Action.PERIOD_ENDED_CANCELED, "price_change_declined", end_at, now)
        lists.ended_canceled.append(sub)
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
