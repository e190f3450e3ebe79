"""``customer.duplicate_subscription``: a customer now holds more than one live subscription.

One live *web* subscription per customer is a constraint; a store subscription exists because
the store says so, so a customer may hold a web and an App Store or Google Play subscription at
once (or one in each store). Entitlements take the best of them (docs/entitlements.md); this
event tells support, whenever a new subscription starts beside another live one, so they can
help the customer cancel the one they do not want (a store one only in the store).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.events.record import event_row
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.record import Sub
from tenure.subscriptions.state import LIVE_STATUSES


async def events_for(session: AsyncSession, new: Sequence[Sub]) -> list[dict[str, Any]]:
    """One event for each new live subscription whose customer holds another live one."""
    started = [sub for sub in new if sub.state in LIVE_STATUSES]
    if not started:
        return []
    rows = await session.execute(
        select(
            Subscription.id,
            Subscription.customer_id,
            Subscription.channel,
            Subscription.status,
            Subscription.plan_id,
            Subscription.product_id,
        )
        .where(
            Subscription.customer_id.in_(sorted({sub.customer_id for sub in started})),
            Subscription.status.in_([status.value for status in LIVE_STATUSES]),
        )
        .order_by(Subscription.customer_id, Subscription.id)
    )
    live: dict[str, dict[str, dict[str, str]]] = {}
    for row in rows:
        live.setdefault(row.customer_id, {})[row.id] = {
            "subscription": row.id,
            "channel": row.channel,
            "status": row.status,
            "plan": row.plan_id,
            "product": row.product_id,
        }
    events = []
    for sub in started:
        found = live.get(sub.customer_id, {})
        found[sub.id] = {
            "subscription": sub.id,
            "channel": sub.channel,
            "status": sub.status,
            "plan": sub.plan_id,
            "product": sub.product_id,
        }
        if len(found) < 2:
            continue
        events.append(
            event_row(
                "customer.duplicate_subscription",
                created=sub.updated_at,
                data={
                    "customer": sub.customer_id,
                    "subscription": sub.id,
                    "channel": sub.channel,
                    "subscriptions": [found[key] for key in sorted(found)],
                },
                customer_id=sub.customer_id,
            )
        )
    return events
