"""Switching a subscription to another plan, shared by immediate changes and payment outcomes."""

from __future__ import annotations

from datetime import datetime

from tenure.billing.plan_change import PlanTerms, classify
from tenure.catalog.model import Catalog
from tenure.flows.unit import UnitOfWork
from tenure.kernel.calendar import add_interval, period_containing
from tenure.subscriptions.record import Sub
from tenure.subscriptions.state import Status


def apply_plan(
    uow: UnitOfWork,
    sub: Sub,
    plan_id: str,
    *,
    effective_at: datetime,
    at: datetime,
    change_type: str,
) -> None:
    """Put ``sub`` on ``plan_id``; an interval change starts a new period at ``effective_at``.

    Records the history row and ``subscription.plan_changed``. During a trial the period (the
    trial) is left alone.
    """
    catalog = uow.runtime.catalog
    plan = catalog.plans[plan_id]
    old = catalog.plans.get(sub.plan_id)
    previous = sub.plan_id
    sub.plan_id, sub.product_id = plan.id, plan.product
    sub.price_amount = plan.prices[sub.market]
    interval_changed = old is None or (old.interval, old.interval_count) != (
        plan.interval,
        plan.interval_count,
    )
    kept = kept_anchor(catalog, previous, plan.id, sub) if old is not None else None
    if interval_changed and sub.state is not Status.TRIALING and kept is not None:
        sub.billing_anchor, sub.current_period_start = kept, effective_at
        sub.current_period_end = period_containing(
            kept, plan.interval, plan.interval_count, effective_at
        )[1]
    elif interval_changed and sub.state is not Status.TRIALING:
        sub.billing_anchor = sub.current_period_start = effective_at
        sub.current_period_end = add_interval(effective_at, plan.interval, plan.interval_count)
    sub.reschedule(at)
    uow.track(sub)
    uow.emit(
        sub.event(
            "subscription.plan_changed",
            at=at,
            previous_plan=previous,
            change_type=change_type,
            effective="now",
        )
    )
    uow.record(sub.note("plan_changed", at=at, actor=uow.actor, reason=f"{previous} -> {plan.id}"))


def kept_anchor(catalog: Catalog, from_plan: str, to_plan: str, sub: Sub) -> datetime | None:
    """The billing anchor an interval change keeps (``anchor = "keep"`` in the change policy):
    the start of the current period, which falls on the existing billing day; ``None`` when
    the change resets the anchor to its own moment (the default)."""
    if catalog.change_anchors.get((from_plan, to_plan)) != "keep":
        return None
    return sub.current_period_start


def change_type_of(catalog: Catalog, sub: Sub, to_plan: str) -> str:
    """upgrade, downgrade or interval_change, as ``billing.plan_change.classify`` decides."""
    old, new = catalog.plans.get(sub.plan_id), catalog.plans.get(to_plan)
    if old is None or new is None or sub.market not in new.prices:
        return "upgrade"
    return classify(
        PlanTerms(old.id, old.id, old.interval, old.interval_count, sub.price_amount),
        PlanTerms(new.id, new.id, new.interval, new.interval_count, new.prices[sub.market]),
    ).value
