"""Ending a trial now: the first paid period starts at once (``POST …/end_trial``).

The trial's end moves to now and the subscription goes through the very path a trial takes at
its scheduled end (:func:`tenure.flows.due.process_batch` for this one subscription), in the
same transaction: the ``trial_end`` invoice, credit first, then the charge after commit. A
crash after commit leaves the subscription due now, so the worker finishes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenure.flows.collect import Outcome, collect
from tenure.flows.due import process_batch
from tenure.flows.manage import SubscriptionNotFound
from tenure.flows.runtime import Runtime
from tenure.flows.unit import UnitOfWork
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, InvalidRequest
from tenure.subscriptions import record as subs
from tenure.subscriptions.channels import require_web
from tenure.subscriptions.state import Status


@dataclass(frozen=True, slots=True)
class TrialEndResult:
    subscription_id: str
    invoice_id: str | None
    payment: Outcome | None


async def end_trial(runtime: Runtime, *, subscription_id: str, actor: str) -> TrialEndResult:
    """End a trial now and charge the first period.

    Refused, changing nothing: 409 ``subscription_not_trialing``, 409
    ``subscription_already_canceling`` (a trial set to cancel just ends), 422
    ``payment_method_required`` (a card-less trial: add a default payment method first).
    Effects: ``subscription.trial_ended`` then ``invoice.created`` and, after the charge,
    ``invoice.paid`` + ``subscription.activated`` (or ``subscription.past_due``).
    """
    async with runtime.db.transaction() as session:
        sub = await subs.load_one(session, subscription_id, for_update=True)
        if sub is None:
            raise SubscriptionNotFound(f"no subscription {subscription_id!r}")
        require_web(sub, "end the trial of")
        if sub.state is not Status.TRIALING:
            raise Conflict(
                f"{sub.id} is {sub.status}, not trialing; there is no trial to end",
                code="subscription_not_trialing",
                subscription_status=sub.status,
            )
        if sub.cancel_at_period_end:
            raise Conflict(
                f"{sub.id} is set to cancel when its trial ends; reactivate it first",
                code="subscription_already_canceling",
            )
        if not sub.payment_method:
            raise InvalidRequest(
                f"{sub.id} has no payment method; attach a default one with "
                f"POST /v1/customers/{sub.customer_id}/payment_methods first",
                code="payment_method_required",
            )
        now = await runtime.now_for(session, sub.test_clock_id)
        scheduled_end = sub.current_period_end
        # The first paid period starts now and anchors the billing day.
        sub.trial_end = sub.current_period_end = sub.billing_anchor = now
        sub.trial_notice_sent = True
        sub.reschedule(now)
        uow = UnitOfWork(runtime, session, actor)
        uow.track(sub)
        uow.record(sub.note("end_trial", at=now, actor=actor, reason="requested"))
        uow.emit(
            sub.event(
                "subscription.trial_ended",
                at=now,
                scheduled_trial_end=rfc3339(scheduled_end),
            )
        )
        await uow.flush()
        batch = await process_batch(
            runtime,
            session,
            test_clock_id=sub.test_clock_id,
            now=now,
            actor=actor,
            limit=1,
            only=sub.id,
        )
    outcomes = await collect(runtime, batch.attempt_ids, actor=actor)
    invoice_id = batch.invoice_ids[0] if batch.invoice_ids else None
    return TrialEndResult(sub.id, invoice_id, outcomes[0] if outcomes else None)
