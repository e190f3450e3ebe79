"""Issue 10: racing writes for one customer serialize and answer 201/409, never a 500.

Two runtimes (two connection pools, as two processes) race subscribes that store a new card
and make it the default, and default-payment-method changes; the partial unique index
``uq_payment_methods_one_default`` must never surface as an IntegrityError.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db.engine import Database
from tenure.flows import accounts
from tenure.flows.assembly import assemble
from tenure.flows.payment_methods import attach, set_default, token_for_subscribe
from tenure.flows.runtime import Runtime
from tenure.flows.subscribe import SubscriptionExists, subscribe
from tenure.kernel.clock import FixedClock
from tenure.payments.methods import PaymentMethod
from tenure.payments.sandbox import SandboxProvider
from tenure.subscriptions.models import Subscription

CATALOG = load_catalog(default_catalog_path())
T0 = datetime(2025, 1, 31, 10, tzinfo=UTC)
PLAN = "premium_individual_monthly"


@pytest.fixture
async def runtimes(database_url: str) -> AsyncIterator[tuple[Runtime, Runtime]]:
    clock = FixedClock(T0)
    made = []
    for _ in range(2):
        db = Database(database_url)
        made.append(assemble(db=db, catalog=CATALOG, provider=SandboxProvider(db), clock=clock))
    yield made[0], made[1]
    for runtime in made:
        await runtime.db.dispose()


async def _customer(runtime: Runtime) -> str:
    customer = await accounts.create_customer(
        runtime, external_id="racer", email="r@example.com", market="SE", test_clock_id=None
    )
    return customer.id


async def _defaults(db: Database, customer: str) -> list[str]:
    async with db.read() as session:
        rows = await session.scalars(
            select(PaymentMethod.id).where(
                PaymentMethod.customer_id == customer, PaymentMethod.is_default.is_(True)
            )
        )
        return list(rows.all())


async def test_twenty_racing_subscribes_with_new_cards(runtimes: tuple[Runtime, Runtime]) -> None:
    first, second = runtimes
    customer = await _customer(first)
    cards = ["pm_card_visa", "pm_card_mastercard"]

    async def one(i: int) -> str:
        runtime = (first, second)[i % 2]
        token = await token_for_subscribe(
            runtime, customer_id=customer, payment_method=cards[i % 2]
        )
        try:
            result = await subscribe(
                runtime,
                customer_id=customer,
                plan_id=PLAN,
                payment_method=token,
                trial=False,
                actor="race",
            )
        except SubscriptionExists:
            return "exists"
        return result.subscription_id

    outcomes = await asyncio.gather(*(one(i) for i in range(20)))
    created = [o for o in outcomes if o != "exists"]
    assert len(created) == 1, outcomes
    async with first.db.read() as session:
        subs = (await session.scalars(select(Subscription.id))).all()
    assert list(subs) == created
    assert len(await _defaults(first.db, customer)) == 1


async def test_racing_default_changes_leave_one_default(
    runtimes: tuple[Runtime, Runtime],
) -> None:
    first, second = runtimes
    customer = await _customer(first)
    methods = []
    for token in ["pm_card_visa", "pm_card_mastercard", "pm_card_recovers_on_retry"] * 2:
        made = await attach(first, customer_id=customer, token=token, default=False, actor="t")
        methods.append(str(made.method["id"]))

    async def one(i: int) -> str:
        runtime = (first, second)[i % 2]
        result = await set_default(
            runtime, customer_id=customer, method_id=methods[i % len(methods)], actor="race"
        )
        return str(result.method["id"])

    chosen = await asyncio.gather(*(one(i) for i in range(20)))
    defaults = await _defaults(first.db, customer)
    assert len(defaults) == 1
    assert defaults[0] in chosen
