"""Changing a running subscription on request: cancel, reactivate, pay or void an open invoice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.access import audit
from tenure.billing import service as invoices
from tenure.billing.records import InvoiceRecord, InvoiceStatus, amount_due, void
from tenure.dunning.cases import CaseAction
from tenure.flows import dunning
from tenure.flows.cancel_credit import NONE, Given, give_back_unused
from tenure.flows.collect import Outcome, collect, record_outcomes
from tenure.flows.outcomes import Settlement
from tenure.flows.payment_methods import check_token, resolve
from tenure.flows.refunds import send_refunds
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, InvalidRequest, NotFound
from tenure.kernel.ids import is_valid_id
from tenure.kernel.metadata import merge as merge_metadata
from tenure.payments import attempts
from tenure.payments.ports import ChargeStatus, ProviderUnavailable
from tenure.subscriptions import changes
from tenure.subscriptions import record as subs
from tenure.subscriptions.changes import ChangeKind
from tenure.subscriptions.channels import require_web, require_web_invoice
from tenure.subscriptions.offers import release_trial
from tenure.subscriptions.record import CancelReason
from tenure.subscriptions.state import Action, Status


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"


async def _locked(session: AsyncSession, subscription_id: str) -> subs.Sub:
    sub = await subs.load_one(session, subscription_id, for_update=True)
    if sub is None:
        raise SubscriptionNotFound(f"no subscription {subscription_id!r}")
    return sub


async def cancel(
    runtime: Runtime,
    *,
    subscription_id: str,
    at_period_end: bool,
    actor: str,
    reason: CancelReason | None = None,
    comment: str | None = None,
) -> Given:
    """Cancel now (access ends, open invoices are voided) or at the end of the period, with
    the customer's reason and comment (kept on the subscription and in its events). A
    ``scheduled`` subscription is always canceled now, before it starts.

    Effects: ``subscription.canceled`` either way (``invoice.voided`` for each open invoice
    when now); at period end, the worker later records ``subscription.expired``. Canceled now,
    the unused part of the paid period is credited or refunded as the catalog says
    (:mod:`tenure.flows.cancel_credit`); refunds are sent after commit.
    """
    given = Given()
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        require_web(sub, "cancel")
        before = {"status": sub.status, "cancel_at_period_end": sub.cancel_at_period_end}
        now = await runtime.now_for(session, sub.test_clock_id)
        uow = UnitOfWork(runtime, session, actor)
        if at_period_end and sub.cancel_at_period_end and sub.state is not Status.SCHEDULED:
            raise Conflict(
                f"{sub.id} is already set to cancel at {rfc3339(sub.current_period_end)}",
                code="subscription_already_canceling",
            )
        policy = runtime.catalog.lifecycle_for(sub.market, sub.product_id).cancel_now_credit
        _note_reason(sub, reason, comment)
        given = await cancel_in(
            uow,
            sub,
            now,
            at_period_end=at_period_end,
            reason=reason.value if reason is not None else "requested",
            credit=policy,
        )
        await audit.write(
            session,
            actor=actor,
            action="cancel_subscription",
            target_type="subscription",
            target_id=sub.id,
            customer_id=sub.customer_id,
            before=before,
            after={
                "status": sub.status,
                "cancel_at_period_end": sub.cancel_at_period_end,
                "credited": given.credited,
                "refunded": given.refunded,
            },
        )
        await uow.flush()
    await send_refunds(runtime, given.refunds, actor=actor)
    return given


async def cancel_in(
    uow: UnitOfWork,
    sub: subs.Sub,
    now: datetime,
    *,
    at_period_end: bool,
    reason: str = "requested",
    ended_reason: str = "canceled",
    credit: str = NONE,
) -> Given:
    """Cancel inside the caller's transaction (``sub`` locked by the caller): schedule the end
    of the period, or end now (open invoices voided, dunning closed, and the unused part of the
    paid period given back as ``credit`` says: ``none``, ``credit`` or ``refund``; refunds are
    returned to be sent after commit). A ``scheduled`` subscription is always canceled now and
    its trial is not used up. ``subscription.canceled`` either way; ``reason`` is the history's
    reason, ``ended_reason`` the subscription's."""
    session = uow.session
    uow.track(sub)
    voided: list[str] = []
    given = Given()
    if sub.state is Status.SCHEDULED:
        at_period_end = False  # it never started: canceling it is always now
        await release_trial(session, sub.id)
    if at_period_end:
        await changes.add(
            session,
            sub.pending,
            subscription_id=sub.id,
            kind=ChangeKind.CANCEL,
            effective_at=sub.current_period_end,
            at=now,
        )
        # A pause scheduled for that same period end gives way: the subscription ends.
        await changes.close(session, sub.pending, [ChangeKind.PAUSE], status="canceled", at=now)
        sub.canceled_at = now
        uow.record(sub.apply(Action.SCHEDULE_CANCEL, at=now, actor=uow.actor, reason=reason))
    else:
        uow.record(sub.apply(Action.CANCEL_NOW, at=now, actor=uow.actor, reason=reason))
        sub.canceled_at = sub.ended_at = now
        sub.ended_reason = ended_reason
        uow.drop_pending(sub, at=now)
        sub.grace_ends_at = sub.hold_ends_at = sub.next_retry_at = None
        sub.pause_notice_at = None
        sub.reschedule(now)
        await dunning.close_cases(uow, [sub], action=CaseAction.END, at=now)
        for invoice in await invoices.open_for_subscriptions(session, [sub.id], for_update=True):
            uow.give_back(invoice, void(invoice, at=now), reason="invoice_voided", at=now)
            uow.invoice_changed(invoice)
            voided.append(invoice.id)
            uow.emit(
                invoices.invoice_event(
                    "invoice.voided", invoice, at=now, sequence=sub.next_sequence()
                )
            )
        given = await give_back_unused(uow, sub, now, credit)
    # A cancel Tenure made (a lost dispute) says why in the event; a customer's own reason
    # travels in the subscription's ``cancellation``.
    extra: dict[str, object] = {} if ended_reason == "canceled" else {"reason": ended_reason}
    if given.credited or given.refunds:
        extra.update(
            credited=given.credited,
            refunded=given.refunded,
            credit_invoice=given.credit_invoice,
        )
    uow.emit(
        sub.event(
            "subscription.canceled",
            at=now,
            at_period_end=at_period_end,
            voided_invoices=voided,
            **extra,
        )
    )
    return given


def _note_reason(sub: subs.Sub, reason: CancelReason | None, comment: str | None) -> None:
    sub.cancel_reason = None if reason is None else reason.value
    sub.cancel_comment = comment if reason is not None else None


async def reactivate(runtime: Runtime, *, subscription_id: str, actor: str) -> None:
    """Undo a cancel-at-period-end before the period ends. Effects: ``subscription.reactivated``."""
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        require_web(sub, "reactivate")
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
        sub.cancel_reason = sub.cancel_comment = None
        uow = UnitOfWork(runtime, session, actor)
        uow.track(sub)
        uow.record(sub.apply(Action.REACTIVATE, at=now, actor=actor, reason="requested"))
        uow.emit(sub.event("subscription.reactivated", at=now))
        await uow.flush()


@dataclass(frozen=True, slots=True)
class PayResult:
    invoice_id: str
    outcome: Outcome | None


class InvoiceNotOpen(Conflict):
    code = "invoice_not_open"


class PaymentInProgress(Conflict):
    code = "payment_in_progress"


async def _open_invoice_of(
    session: AsyncSession, invoice_id: str
) -> tuple[InvoiceRecord, subs.Sub | None]:
    """The invoice locked (subscription first), refused unless open with nothing in flight."""
    unlocked = await invoices.get(session, invoice_id)
    await require_web_invoice(session, unlocked.subscription_id, "collect or void its invoices")
    sub = await _locked(session, unlocked.subscription_id) if unlocked.subscription_id else None
    invoice = await invoices.get(session, invoice_id, for_update=True)
    if invoice.status is not InvoiceStatus.OPEN:
        raise InvoiceNotOpen(
            f"invoice {invoice_id} is {invoice.status.value}, not open",
            invoice_status=invoice.status.value,
        )
    if await attempts.pending_invoices(session, [invoice_id]):
        raise PaymentInProgress(
            f"a payment for {invoice_id} is in progress; retry in a few seconds"
        )
    return invoice, sub


async def pay_invoice(
    runtime: Runtime,
    *,
    invoice_id: str,
    payment_method: str | None,
    actor: str,
    authentication_details: Mapping[str, str] | None = None,
) -> PayResult:
    """Try to collect what an open invoice still owes, now, optionally with a new payment
    method (which then also becomes the customer's default and the subscription's method)."""
    if payment_method is not None and not is_valid_id(payment_method, "pm"):
        check_token(runtime, payment_method)
    waiting = await _settle_authentication(
        runtime, invoice_id, actor=actor, details=authentication_details
    )
    if waiting is not None:
        return waiting
    async with runtime.db.transaction() as session:
        invoice, sub = await _open_invoice_of(session, invoice_id)
        uow = UnitOfWork(runtime, session, actor)
        method = sub.payment_method if sub else None
        if payment_method is not None:
            stored = await resolve(
                runtime,
                session,
                customer_id=invoice.customer_id,
                payment_method=payment_method,
                make_default=True,
            )
            method = stored.provider_token
            if sub is not None:
                sub.payment_method = method
                uow.track(sub)
        if method is None:
            raise InvalidRequest(
                "no payment method given and none on file", code="payment_method_required"
            )
        now = await runtime.now_for(session, sub.test_clock_id if sub else None)
        attempt = attempts.new_attempt(
            invoice_id=invoice_id,
            customer_id=invoice.customer_id,
            test_clock_id=sub.test_clock_id if sub else None,
            amount=amount_due(invoice),
            currency=invoice.currency,
            payment_method=method,
            attempt_number=await attempts.next_attempt_number(session, invoice_id),
            created_at=now,
            on_session=True,  # the client pays with the customer present: 3-D Secure may run
        )
        uow.add_attempt(attempt)
        await uow.flush()
    outcomes = await collect(runtime, [attempt.id], actor=actor)
    return PayResult(invoice_id, outcomes[0] if outcomes else None)


async def _settle_authentication(
    runtime: Runtime, invoice_id: str, *, actor: str, details: Mapping[str, str] | None
) -> PayResult | None:
    """An attempt waiting for the customer's authentication is asked about first (never a
    second charge while the first may still go through): paid, or still waiting (the answer
    carries its next_action again) ends the pay here; failed lets a new attempt follow. With
    ``details`` (Adyen's ``onAdditionalDetails``) the provider is given the customer's
    authentication result instead of being asked."""
    async with runtime.db.read() as session:
        waiting = await attempts.awaiting_action(session, invoice_id)
    if waiting is None:
        return None
    complete: Any = getattr(runtime.provider, "complete_authentication", None)
    try:
        result = None
        if details and complete is not None:
            result = await complete(waiting.idempotency_key, details)
        if result is None:
            result = await runtime.provider.lookup(waiting.idempotency_key)
    except ProviderUnavailable:
        raise PaymentInProgress(
            f"the payment for {invoice_id} awaits authentication and the provider did not "
            "answer; retry in a few seconds"
        ) from None
    if result is None:
        return None
    outcome = Outcome(waiting.id, invoice_id, result)
    if waiting.awaits_action(result):
        return PayResult(invoice_id, outcome)
    await record_outcomes(runtime, [outcome], actor=actor)
    if result.status is ChargeStatus.SUCCEEDED:
        return PayResult(invoice_id, outcome)
    return None


async def void_invoice(runtime: Runtime, *, invoice_id: str, actor: str) -> None:
    """Void an open invoice: nothing is owed any more and the credit it used goes back to the
    balance. What that means for its subscription is up to the use case that issued it: a
    first invoice ends the incomplete subscription, an unpaid renewal is forgiven (the
    subscription leaves dunning), a plan change is dropped.

    Effects: ``invoice.voided`` and the use case's own events, in one transaction.
    """
    async with runtime.db.transaction() as session:
        invoice, sub = await _open_invoice_of(session, invoice_id)
        now = await runtime.now_for(session, sub.test_clock_id if sub else None)
        uow = UnitOfWork(runtime, session, actor)
        uow.give_back(invoice, void(invoice, at=now), reason="invoice_voided", at=now)
        uow.invoice_changed(invoice)
        if sub is not None:
            uow.track(sub)
        seq = sub.next_sequence() if sub else None
        uow.emit(invoices.invoice_event("invoice.voided", invoice, at=now, sequence=seq))
        item = Settlement(invoice, sub, now)
        handler = runtime.outcomes[invoice.billing_reason]
        await handler.prepare(uow, [item])
        handler.voided(uow, item)
        await uow.flush()
        await audit.write(
            session,
            actor=actor,
            action="void_invoice",
            target_type="invoice",
            target_id=invoice.id,
            customer_id=invoice.customer_id,
            before={"status": "open", "total": invoice.total, "currency": invoice.currency},
            after={"status": invoice.status.value},
        )


async def update_subscription(
    runtime: Runtime, *, subscription_id: str, metadata: dict[str, str], actor: str
) -> None:
    """Merge metadata (a key set to "" is removed). Effects: ``subscription.updated``."""
    async with runtime.db.transaction() as session:
        sub = await _locked(session, subscription_id)
        merged = merge_metadata(sub.metadata, metadata)
        if merged == sub.metadata:
            return
        now = await runtime.now_for(session, sub.test_clock_id)
        sub.metadata = merged
        sub.updated_at = now
        uow = UnitOfWork(runtime, session, actor)
        uow.track(sub)
        uow.emit(sub.event("subscription.updated", at=now, changed=["metadata"]))
        await uow.flush()


async def update_invoice(
    runtime: Runtime, *, invoice_id: str, metadata: dict[str, str], actor: str
) -> None:
    """Merge metadata (a key set to "" is removed); any status. Effects: ``invoice.updated``."""
    async with runtime.db.transaction() as session:
        unlocked = await invoices.get(session, invoice_id)
        sub = await _locked(session, unlocked.subscription_id) if unlocked.subscription_id else None
        invoice = await invoices.get(session, invoice_id, for_update=True)
        merged = merge_metadata(invoice.metadata, metadata)
        if merged == invoice.metadata:
            return
        invoice.metadata = merged
        now = await runtime.now_for(session, sub.test_clock_id if sub else None)
        uow = UnitOfWork(runtime, session, actor)
        uow.invoice_changed(invoice)
        if sub is not None:
            uow.track(sub)
        seq = sub.next_sequence() if sub else None
        uow.emit(
            invoices.invoice_event(
                "invoice.updated", invoice, at=now, sequence=seq, changed=["metadata"]
            )
        )
        await uow.flush()
