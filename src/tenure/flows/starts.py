"""Scheduled starts: a subscription created with ``start_at`` starts when its time comes.

The due batch (:mod:`tenure.flows.due`) calls :func:`start` for each scheduled subscription
whose start has passed, at that business time (the worker, or a test clock advance). With a
trial it starts ``trialing`` (nothing billed); otherwise it becomes ``incomplete`` with its
first invoice, which is settled and charged with the batch's renewals, exactly as a subscribe
would: paid -> ``active`` (``flows.subscribe.FirstPayment``), declined -> ``incomplete`` for
23 hours.
"""

from __future__ import annotations

from datetime import datetime

from tenure.flows.renewal import Renewals
from tenure.flows.shaping import first_invoice
from tenure.flows.unit import UnitOfWork
from tenure.kernel.clock import rfc3339
from tenure.subscriptions.anchors import anchored
from tenure.subscriptions.record import Sub
from tenure.subscriptions.schedule import INCOMPLETE_WINDOW
from tenure.subscriptions.state import Action


def start(uow: UnitOfWork, sub: Sub, now: datetime, renewals: Renewals) -> bool:
    """Start ``sub``; ``False`` when its plan can no longer be sold (the caller ends it)."""
    catalog = uow.runtime.catalog
    plan = catalog.plans.get(sub.plan_id)
    if plan is None or sub.market not in plan.prices or sub.market not in catalog.markets:
        return False
    begins = sub.current_period_end  # a scheduled subscription's period ends at its start
    sub.current_period_start = begins
    if sub.trial_end is not None:
        sub.current_period_end = sub.trial_end
        uow.record(sub.apply(Action.START_TRIAL, at=now, actor=uow.actor, reason="start_at"))
        uow.emit(sub.event("subscription.started", at=now, scheduled_start=rfc3339(begins)))
        return True
    period = anchored(sub.billing_anchor, plan.interval, plan.interval_count, begins)
    sub.current_period_end = period.end
    sub.incomplete_expires_at = now + INCOMPLETE_WINDOW
    uow.record(sub.apply(Action.START, at=now, actor=uow.actor, reason="start_at"))
    uow.emit(sub.event("subscription.started", at=now, scheduled_start=rfc3339(begins)))
    discount = renewals.discounts.get(sub.id)
    invoice, _ = first_invoice(
        uow.runtime, sub, discount, begins, None if period.is_full(begins) else period
    )
    if discount is not None and len(invoice.lines) > 1:
        uow.use_discount(discount)
    renewals.drafts.append((invoice, sub))
    return True


def cannot_start(uow: UnitOfWork, sub: Sub, now: datetime) -> None:
    """Its plan left the catalog (or its market) before the start: canceled, nothing billed."""
    sub.canceled_at = sub.ended_at = now
    sub.ended_reason = "plan_unavailable"
    uow.drop_pending(sub, at=now)
    uow.record(sub.apply(Action.CANCEL_NOW, at=now, actor=uow.actor, reason="plan_unavailable"))
    uow.emit(
        sub.event(
            "subscription.canceled",
            at=now,
            at_period_end=False,
            voided_invoices=[],
            reason="plan_unavailable",
        )
    )
