"""Dunning in the flows: a failed renewal opens a case; retries, grace, hold and exhaustion run
from the due batch; a payment at any point recovers the subscription; a void waives the period.

The rules are pure (:mod:`tenure.dunning.policy`, :mod:`tenure.subscriptions.schedule`); this
module applies them to typed records through the caller's unit of work, set-based, and never
calls the provider. Retries charge :func:`tenure.billing.records.amount_due`, like every other
charge path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from tenure.billing import service as invoices
from tenure.billing.records import InvoiceRecord, InvoiceStatus, amount_due, write_off
from tenure.dunning import cases
from tenure.dunning.cases import CaseAction
from tenure.dunning.config import policy_book
from tenure.dunning.policy import (
    Period,
    Recovery,
    billing_issue_reason,
    is_hard_decline,
    open_case,
    recovered_period,
    retry_after_failure,
)
from tenure.flows.cancel_credit import credit_hold
from tenure.flows.outcomes import Settlement, payment_failed_event
from tenure.flows.unit import UnitOfWork
from tenure.kernel.clock import rfc3339
from tenure.payments import attempts
from tenure.payments.attempts import Attempt
from tenure.payments.ports import ChargeResult
from tenure.subscriptions.record import Sub
from tenure.subscriptions.schedule import Due
from tenure.subscriptions.state import DUNNING_STATUSES, Action, Status

DUNNING_DUES: Final = frozenset({Due.GRACE_EXPIRY, Due.DUNNING_EXHAUSTED, Due.RETRY_PAYMENT})


def _ts(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


# --- Payment outcomes of a renewal ----------------------------------------------------------------


def _blocked(uow: UnitOfWork, sub: Sub, token: str, result: ChargeResult) -> str | None:
    """The stored method that declined hard (not retried until another becomes default)."""
    if not is_hard_decline(result.decline_code, result.retryable):
        return None
    default = uow.default_methods.get(sub.customer_id)
    return default.id if default is not None and default.provider_token == token else token


def renewal_failed(uow: UnitOfWork, item: Settlement) -> None:
    """Open a case for a failed renewal, or move the open one on; ``past_due`` on the first
    failure, with ``invoice.payment_failed`` and ``subscription.past_due``."""
    sub, result, attempt, at = item.sub, item.result, item.attempt, item.at
    assert result is not None and attempt is not None
    if sub is None:
        uow.emit(payment_failed_event(item))
        return
    if sub.state in (Status.TRIALING, Status.ACTIVE):
        policy = policy_book(uow.runtime.catalog).for_subscription(sub.market, sub.product_id)
        clocks = open_case(policy, at)
        uow.open_case(
            cases.new_case(
                subscription_id=sub.id,
                invoice_id=item.invoice.id,
                customer_id=sub.customer_id,
                policy=policy,
                clocks=clocks,
                decline_code=result.decline_code,
                blocked_method_id=_blocked(uow, sub, attempt.payment_method, result),
            )
        )
        sub.grace_ends_at, sub.hold_ends_at = clocks.grace_ends_at, clocks.hold_ends_at
    elif sub.state in DUNNING_STATUSES:
        case = uow.open_cases.get(sub.id)
        if case is None or case.invoice_id != item.invoice.id:
            uow.emit(payment_failed_event(item))
            return
        policy, clocks = case.policy, case.clocks
        case.failures += 1
        case.last_decline_code = result.decline_code
        case.blocked_method_id = _blocked(uow, sub, attempt.payment_method, result)
        uow.case_changed(case)
    else:
        uow.emit(payment_failed_event(item))
        return
    sub.next_retry_at = retry_after_failure(
        policy,
        clocks,
        failed_at=at,
        decline_code=result.decline_code,
        provider_retryable=result.retryable,
    )
    sub.reschedule(at)
    uow.emit(payment_failed_event(item, next_attempt=sub.next_retry_at))
    if sub.state in (Status.TRIALING, Status.ACTIVE):
        _past_due(uow, sub, at, result)


def _past_due(uow: UnitOfWork, sub: Sub, at: datetime, result: ChargeResult) -> None:
    reason = f"payment failed: {result.decline_code}"
    uow.record(sub.apply(Action.PAYMENT_FAILED, at=at, actor=uow.actor, reason=reason))
    uow.emit(
        sub.event(
            "subscription.past_due",
            at=at,
            decline_code=result.decline_code,
            grace_ends_at=_ts(sub.grace_ends_at),
            hold_ends_at=_ts(sub.hold_ends_at),
            next_payment_attempt=_ts(sub.next_retry_at),
            billing_issue={"reason": billing_issue_reason(result.decline_code)},
        )
    )


def recovered(
    uow: UnitOfWork,
    sub: Sub,
    at: datetime,
    *,
    waived: bool = False,
    invoice: InvoiceRecord | None = None,
) -> None:
    """The unpaid renewal of a subscription in dunning was paid (or voided: ``waived``): close
    the case, apply the recovery policy, ``subscription.recovered``.

    On hold with ``recovery_during_hold = "restart_period"`` the paid ``invoice`` (its lines
    loaded) is credited for the days of the hold, and the period restarts now: the next one is
    invoiced at once by the due batch, anchored on the recovery date."""
    case = uow.open_cases.pop(sub.id, None)
    policy = (
        case.policy
        if case is not None
        else policy_book(uow.runtime.catalog).for_subscription(sub.market, sub.product_id)
    )
    plan = uow.runtime.catalog.plans.get(sub.plan_id)
    on_hold = sub.state is Status.ON_HOLD
    rule = policy.recovery_during_hold if on_hold else policy.recovery
    credited = 0
    if plan is not None and not waived:
        period = recovered_period(
            policy,
            Period(sub.billing_anchor, sub.current_period_start, sub.current_period_end),
            recovered_at=at,
            interval=plan.interval,
            interval_count=plan.interval_count,
            on_hold=on_hold,
        )
        if on_hold and rule is Recovery.RESTART_PERIOD and invoice is not None:
            hold_from = case.grace_ends_at if case is not None else (sub.grace_ends_at or at)
            credited = credit_hold(uow, sub, invoice, hold_from=hold_from, at=at)
        sub.billing_anchor = period.billing_anchor
        sub.current_period_start, sub.current_period_end = period.start, period.end
    if case is not None:
        case.close(CaseAction.WAIVE if waived else CaseAction.RECOVER, at=at)
        uow.case_changed(case)
    recovered_from = sub.status
    sub.grace_ends_at = sub.hold_ends_at = sub.next_retry_at = None
    sub.incomplete_expires_at = None
    why = "invoice voided" if waived else "invoice paid"
    uow.record(sub.apply(Action.PAYMENT_RECOVERED, at=at, actor=uow.actor, reason=why))
    uow.emit(
        sub.event(
            "subscription.recovered",
            at=at,
            recovered_from=recovered_from,
            recovery="waived" if waived else rule.value,
            dunning_started_at=_ts(case.started_at) if case else None,
            hold_credit=credited,
        )
    )


# --- The due batch: grace, hold, exhaustion, ladder retries -----------------------------------


def grace_expired(uow: UnitOfWork, sub: Sub, now: datetime) -> None:
    uow.record(sub.apply(Action.GRACE_EXPIRED, at=now, actor=uow.actor, reason="grace ended"))
    uow.emit(
        sub.event(
            "subscription.on_hold",
            at=now,
            hold_ends_at=_ts(sub.hold_ends_at),
            next_payment_attempt=_ts(sub.next_retry_at),
        )
    )


def exhausted(uow: UnitOfWork, sub: Sub, now: datetime) -> None:
    """The policy ran out: the subscription expires; its invoice is written off in
    :func:`write_off_open`."""
    sub.ended_at = now
    sub.ended_reason = "payment_failed"
    uow.drop_pending(sub, at=now)
    sub.next_retry_at = None
    uow.record(
        sub.apply(Action.DUNNING_EXHAUSTED, at=now, actor=uow.actor, reason="payment_failed")
    )
    uow.emit(sub.event("subscription.expired", at=now, reason="payment_failed"))


async def write_off_open(uow: UnitOfWork, ended: Sequence[Sub], now: datetime) -> None:
    """Subscriptions that ended unpaid (dunning ran out, or a cancel at period end came first)
    write off their open invoices: uncollectible, keeping the credit they used (the period was
    partly served)."""
    if not ended:
        return
    by_id = {sub.id: sub for sub in ended}
    for invoice in await invoices.open_for_subscriptions(uow.session, list(by_id), for_update=True):
        write_off(invoice, at=now)
        uow.invoice_changed(invoice)
        sub = by_id[invoice.subscription_id or ""]
        uow.emit(
            invoices.invoice_event(
                "invoice.marked_uncollectible", invoice, at=now, sequence=sub.next_sequence()
            )
        )


async def close_cases(
    uow: UnitOfWork, ended: Sequence[Sub], *, action: CaseAction, at: datetime
) -> None:
    """Close the open case of subscriptions that ended (exhausted, or ended another way)."""
    await cases.close_open(uow.session, [sub.id for sub in ended], action=action, at=at)


def retry_due(sub: Sub, now: datetime) -> None:
    """A ladder step is due: the outcome of the retry sets the next one."""
    sub.next_retry_at = None
    sub.reschedule(now)


async def retry_attempts(uow: UnitOfWork, retrying: Sequence[Sub], now: datetime) -> list[Attempt]:
    """One new attempt (a new number, so a new idempotency key) per subscription whose ladder
    step is due, for what is still owed; none while another attempt is in flight."""
    if not retrying:
        return []
    open_cases = await cases.open_cases(uow.session, [sub.id for sub in retrying])
    invoice_ids = [case.invoice_id for case in open_cases.values()]
    found = await invoices.load(uow.session, invoice_ids)
    counts = await attempts.attempt_counts(uow.session, invoice_ids)
    in_flight = await attempts.pending_invoices(uow.session, invoice_ids)
    created = []
    for sub in retrying:
        case = open_cases.get(sub.id)
        invoice = found.get(case.invoice_id) if case else None
        if invoice is None or invoice.status is not InvoiceStatus.OPEN:
            continue
        if sub.payment_method is None or invoice.id in in_flight:
            continue  # the recovery sweep resolves it; its outcome schedules the next step
        owed = amount_due(invoice)
        if owed <= 0:
            continue
        attempt = attempts.new_attempt(
            invoice_id=invoice.id,
            customer_id=sub.customer_id,
            test_clock_id=sub.test_clock_id,
            amount=owed,
            currency=invoice.currency,
            payment_method=sub.payment_method,
            attempt_number=counts.get(invoice.id, 0) + 1,
            created_at=now,
        )
        uow.add_attempt(attempt)
        created.append(attempt)
    return created
