"""Creating customers and test clocks."""

from __future__ import annotations

from datetime import datetime

from tenure.customers import service as customers
from tenure.customers.models import Customer
from tenure.db.touched import touch_customers
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import InvalidRequest
from tenure.testclocks import service as testclocks
from tenure.testclocks.models import TestClock


async def create_customer(
    runtime: Runtime,
    *,
    external_id: str,
    email: str,
    market: str,
    test_clock_id: str | None,
    region: str | None = None,
    metadata: dict[str, str] | None = None,
    billing_day: int | None = None,
) -> Customer:
    found = runtime.catalog.market(market)  # refuses an unknown market, listing the known ones
    if region is not None and region not in found.regions:
        known = ", ".join(sorted(found.regions)) or "none"
        raise InvalidRequest(
            f"unknown tax region {region!r} in {market}; known regions: {known}",
            code="unknown_region",
        )
    async with runtime.db.transaction() as session:
        created_at = await runtime.now_for(session, test_clock_id)
        customer = await customers.create(
            session,
            external_id=external_id,
            email=email,
            market=market,
            test_clock_id=test_clock_id,
            created_at=created_at,
            region=region,
            metadata=metadata,
            billing_day=billing_day,
        )
        touch_customers(session, [customer.id])  # its entitlements row (Free) starts here
        return customer


async def update_customer(
    runtime: Runtime,
    *,
    customer_id: str,
    email: str | None,
    metadata: dict[str, str] | None,
    billing_day: int | None = None,
) -> Customer:
    """Effects: ``customer.updated`` (with what ``changed``) when something did."""
    async with runtime.db.transaction() as session:
        customer = await customers.get(session, customer_id, for_update=True)
        now = await runtime.now_for(session, customer.test_clock_id)
        return await customers.update(
            session, customer, email=email, metadata=metadata, at=now, billing_day=billing_day
        )


async def create_test_clock(
    runtime: Runtime, *, frozen_time: datetime, name: str | None
) -> TestClock:
    async with runtime.db.transaction() as session:
        return await testclocks.create(
            session, frozen_time=frozen_time, name=name, created_at=runtime.clock.now()
        )
