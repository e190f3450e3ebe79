"""Changing a running subscription on request: cancel, reactivate, pay an open invoice."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing import service as invoices
from tenure.billing.invoicing import amount_due
from tenure.dunning import cases
from tenure.events.record import record as record_events
from tenure.flows.collect import Outcome, collect
from tenure.flows.payment_methods import check_token, resolve
from tenure.flows.runtime import Runtime
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, InvalidRequest, NotFound
from tenure.kernel.ids import is_valid_id
from tenure.payments import attempts
from tenure.subscriptions import changes
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.state import Action, Status


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"


async def _locked(session: AsyncSession, subscription_id: str) -> subs.Sub:
    sub = await subs.load_one(session, subscription_id, for_update=True)
    if sub is None:
        raise SubscriptionNotFound(f"no subscription {subscription_id!r}")
    return sub


async def cancel(
    runtime: Runtime, *, subscription_id: str, at_period_end: bool, actor: str
) -> None:
    """Cancel now (access ends, open invoices are voided) or at the end of the period.

    Effects: ``subscription.canceled`` either way; at period end, the worker later records
    ``subscription.expired``.
    """
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        now = await runtime.now_for(session, sub.test_clock_id)
        if at_period_end:
            if sub.cancel_at_period_end:
                raise Conflict(
                    f"{sub.id} is already set to cancel at {rfc3339(sub.current_period_end)}",
                    code="subscription_already_canceling",
                )
            await changes.add(
                session,
                sub.pending,
                subscription_id=sub.id,
                kind=ChangeKind.CANCEL,
                effective_at=sub.current_period_end,
                at=now,
            )
            sub.canceled_at = now
            history = sub.apply(Action.SCHEDULE_CANCEL, at=now, actor=actor, reason="requested")
            voided: list[str] = []
        else:
            history = sub.apply(Action.CANCEL_NOW, at=now, actor=actor, reason="requested")
            sub.canceled_at = sub.ended_at = now
            sub.ended_reason = "canceled"
            await changes.close(session, sub.pending, list(sub.pending), status="canceled", at=now)
            sub.grace_ends_at = sub.hold_ends_at = sub.next_retry_at = None
            sub.reschedule(now)
            await cases.close_open(session, [sub.id], status="ended", at=now)
            voided = await invoices.close_for_subscriptions(
                session, [sub.id], status="void", at=now
            )
        events = [
            sub.event(
                "subscription.canceled", at=now, at_period_end=at_period_end, voided_invoices=voided
            )
        ]
        await subs.save(session, [sub])
        await subs.add_history(session, [history])
        await record_events(session, events)


async def reactivate(runtime: Runtime, *, subscription_id: str, actor: str) -> None:
    """Undo a cancel-at-period-end before the period ends. Effects: ``subscription.reactivated``."""
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        now = await runtime.now_for(session, sub.test_clock_id)
        if not sub.cancel_at_period_end:
            raise Conflict(
                f"{sub.id} is not set to cancel, so there is nothing to reactivate"
                if sub.state not in (Status.CANCELED, Status.EXPIRED)
                else f"{sub.id} has ended ({sub.status}); start a new subscription instead",
                code="subscription_not_canceling",
            )
        await changes.close(session, sub.pending, [ChangeKind.CANCEL], status="canceled", at=now)
        sub.canceled_at = None
        history = sub.apply(Action.REACTIVATE, at=now, actor=actor, reason="requested")
        events = [sub.event("subscription.reactivated", at=now)]
        await subs.save(session, [sub])
        await subs.add_history(session, [history])
        await record_events(session, events)


@dataclass(frozen=True, slots=True)
class PayResult:
    invoice_id: str
    outcome: Outcome | None


async def pay_invoice(
    runtime: Runtime, *, invoice_id: str, payment_method: str | None, actor: str
) -> PayResult:
    """Try to collect an open invoice now, optionally with a new payment method.

    A new method also becomes the subscription's method for later renewals.
    """
    if payment_method is not None and not is_valid_id(payment_method, "pm"):
        check_token(runtime, payment_method)
    async with runtime.db.transaction() as session:
        unlocked = await invoices.get(session, invoice_id)
        sub = None
        if unlocked["subscription_id"]:
            sub = await _locked(session, unlocked["subscription_id"])
        invoice = await invoices.get(session, invoice_id, for_update=True)
        if invoice["status"] != "open":
            raise Conflict(
                f"invoice {invoice_id} is {invoice['status']}, not open",
                code="invoice_not_open",
                invoice_status=invoice["status"],
            )
        method = sub.payment_method if sub else None
        if payment_method is not None:
            # A new method is stored and becomes the customer's default, so renewals use it.
            stored = await resolve(
                runtime,
                session,
                customer_id=invoice["customer_id"],
                payment_method=payment_method,
                make_default=True,
            )
            method = stored.provider_token
            if sub is not None:
                sub.payment_method = method
                await subs.save(session, [sub])
        if method is None:
            raise InvalidRequest(
                "no payment method given and none on file", code="payment_method_required"
            )
        now = await runtime.now_for(session, sub.test_clock_id if sub else None)
        pending = await attempts.load_pending_for_invoice(session, invoice_id)
        if pending:
            raise Conflict(
                f"a payment for {invoice_id} is in progress; retry in a few seconds",
                code="payment_in_progress",
            )
        attempt = attempts.new_attempt(
            invoice_id=invoice_id,
            customer_id=invoice["customer_id"],
            test_clock_id=sub.test_clock_id if sub else None,
            amount=amount_due(invoice),
            currency=invoice["currency"],
            payment_method=method,
            attempt_number=await attempts.next_attempt_number(session, invoice_id),
            created_at=now,
        )
        await attempts.insert_attempts(session, [attempt])
    outcomes = await collect(runtime, [attempt["id"]], actor=actor)
    return PayResult(invoice_id, outcomes[0] if outcomes else None)
