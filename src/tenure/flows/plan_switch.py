"""Switching a subscription to another plan, shared by immediate changes and payment outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tenure.catalog.model import Catalog
from tenure.kernel.calendar import add_interval
from tenure.subscriptions import record as subs
from tenure.subscriptions.state import Status


def apply_plan(
    catalog: Catalog,
    sub: subs.Sub,
    plan_id: str,
    *,
    effective_at: datetime,
    at: datetime,
    actor: str,
    events: list[dict[str, Any]],
    change_type: str,
) -> dict[str, Any]:
    """Put ``sub`` on ``plan_id``; an interval change starts a new period at ``effective_at``.

    Returns the history row. During a trial the period (the trial) is left alone.
    """
    plan = catalog.plans[plan_id]
    old = catalog.plans.get(sub.plan_id)
    previous = sub.plan_id
    sub.plan_id, sub.product_id = plan.id, plan.product
    sub.price_amount = plan.prices[sub.market]
    interval_changed = old is None or (old.interval, old.interval_count) != (
        plan.interval,
        plan.interval_count,
    )
    if interval_changed and sub.state is not Status.TRIALING:
        sub.billing_anchor = sub.current_period_start = effective_at
        sub.current_period_end = add_interval(effective_at, plan.interval, plan.interval_count)
    sub.reschedule(at)
    events.append(
        sub.event(
            "subscription.plan_changed",
            at=at,
            previous_plan=previous,
            change_type=change_type,
            effective="now",
        )
    )
    return {
        "subscription_id": sub.id,
        "at": at,
        "from_status": sub.status,
        "to_status": sub.status,
        "action": "plan_changed",
        "reason": f"{previous} -> {plan.id}",
        "actor": actor,
    }
