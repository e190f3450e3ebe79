"""Make real events through the real flows: customers, subscriptions, a year of renewals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tenure.flows import accounts, subscribe, time_travel
from tenure.flows.runtime import Runtime


async def customers(runtime: Runtime, count: int) -> list[str]:
    """``count`` customers, one ``customer.created`` event each."""
    made = []
    for _ in range(count):
        customer = await accounts.create_customer(
            runtime,
            external_id=f"user-{uuid.uuid4().hex[:12]}",
            email="listener@example.com",
            market="SE",
            test_clock_id=None,
        )
        made.append(customer.id)
    return made


async def year_of_renewals(runtime: Runtime, subscribers: int = 2) -> list[str]:
    """Subscribers on one test clock, advanced a year: about 40 events per subscription."""
    start = datetime(2025, 1, 31, 10, tzinfo=UTC)
    clock = await accounts.create_test_clock(runtime, frozen_time=start, name=None)
    subscriptions = []
    for _ in range(subscribers):
        customer = await accounts.create_customer(
            runtime,
            external_id=f"user-{uuid.uuid4().hex[:12]}",
            email="listener@example.com",
            market="SE",
            test_clock_id=clock.id,
        )
        result = await subscribe.subscribe(
            runtime,
            customer_id=customer.id,
            plan_id="premium_individual_monthly",
            payment_method="pm_card_visa",
            trial=False,
            actor="test",
        )
        subscriptions.append(result.subscription_id)
    await time_travel.advance(runtime, clock_id=clock.id, to=datetime(2026, 1, 31, 10, tzinfo=UTC))
    return subscriptions
