"""Switching a subscription to another plan, shared by immediate changes and payment outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tenure.billing.plan_change import PlanTerms, classify
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


def change_type_of(catalog: Catalog, sub: subs.Sub, to_plan: str) -> str:
    """upgrade, downgrade or interval_change, as ``billing.plan_change.classify`` decides."""
    old, new = catalog.plans.get(sub.plan_id), catalog.plans.get(to_plan)
    if old is None or new is None or sub.market not in new.prices:
        return "upgrade"
    return classify(
        PlanTerms(old.id, old.id, old.interval, old.interval_count, sub.price_amount),
        PlanTerms(new.id, new.id, new.interval, new.interval_count, new.prices[sub.market]),
    ).value
