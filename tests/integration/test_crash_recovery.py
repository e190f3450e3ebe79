"""A crash at any step of a charge still ends in exactly one charge per invoice.

A charge goes: attempt stored (committed) -> provider called -> outcome stored. These tests
stop the process between each pair of steps (a provider double raises ``Crash``, which nothing
in Tenure catches, as a killed process would), restart with a healthy runtime, let the lease
run out and check that ``recover_stale`` finishes the job without charging twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from tenure.billing.models import Invoice
from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db.base import table_of
from tenure.db.engine import Database
from tenure.events.models import OutboxEvent
from tenure.flows import accounts
from tenure.flows.assembly import assemble
from tenure.flows.collect import collect, recover_stale
from tenure.flows.due import run_due
from tenure.flows.runtime import Runtime
from tenure.flows.subscribe import subscribe
from tenure.kernel.clock import FixedClock
from tenure.payments.attempts import load_pending
from tenure.payments.models import PaymentAttempt, SandboxCharge
from tenure.payments.ports import ChargeRequest, ChargeResult
from tenure.payments.sandbox import SandboxProvider
from tenure.subscriptions.models import Subscription, SubscriptionHistory
from tenure.workers.loop import run_once

PLAN = "premium_individual_monthly"
T0 = datetime(2025, 1, 31, 10, tzinfo=UTC)
CATALOG = load_catalog(default_catalog_path())


class Crash(Exception):
    """The process died here."""


class CrashBeforeCharge(SandboxProvider):
    async def charge(self, request: ChargeRequest) -> ChargeResult:
        raise Crash(f"died before charging {request.idempotency_key}")


class CrashAfterCharge(SandboxProvider):
    async def charge(self, request: ChargeRequest) -> ChargeResult:
        await super().charge(request)
        raise Crash(f"died after charging {request.idempotency_key}")


class World:
    """One database, one business clock, and runtimes over them (each its own "process")."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.clock = FixedClock(T0)
        self.databases: list[Database] = []
        self.healthy = self.runtime()

    @property
    def db(self) -> Database:
        return self.healthy.db

    def runtime(self, provider: type[SandboxProvider] = SandboxProvider) -> Runtime:
        db = Database(self.url)
        self.databases.append(db)
        return assemble(db=db, catalog=CATALOG, provider=provider(db), clock=self.clock)

    async def customer(self, runtime: Runtime | None = None) -> str:
        customer = await accounts.create_customer(
            runtime or self.healthy,
            external_id=f"user-{uuid.uuid4().hex[:12]}",
            email="listener@example.com",
            market="SE",
            test_clock_id=None,
        )
        return customer.id

    async def subscribe(self, runtime: Runtime, customer: str, method: str = "pm_card_visa") -> Any:
        return await subscribe(
            runtime,
            customer_id=customer,
            plan_id=PLAN,
            payment_method=method,
            trial=False,
            actor="test",
        )

    async def crashed_subscribe(self, provider: type[SandboxProvider]) -> str:
        """Subscribe in a runtime that dies mid-charge; returns the customer id."""
        customer = await self.customer()
        with pytest.raises(Crash):
            await self.subscribe(self.runtime(provider), customer)
        return customer

    async def rows(self, model: Any, **where: Any) -> list[dict[str, Any]]:
        table = table_of(model)
        query = select(table).where(*(table.c[k] == v for k, v in where.items()))
        async with self.db.read() as session:
            return [dict(r) for r in (await session.execute(query)).mappings().all()]

    async def one(self, model: Any, **where: Any) -> dict[str, Any]:
        found = await self.rows(model, **where)
        assert len(found) == 1, found
        return found[0]

    async def expire_leases(self) -> None:
        """Pretend the lease ran out: the caller that took it is gone."""
        table = table_of(PaymentAttempt)
        past = datetime.now(UTC) - timedelta(minutes=5)
        async with self.db.transaction() as session:
            await session.execute(
                update(table).where(table.c.status == "pending").values(lease_until=past)
            )

    async def event_types(self, customer: str) -> Counter[str]:
        return Counter(e["type"] for e in await self.rows(OutboxEvent, customer_id=customer))

    async def assert_paid_once(self, customer: str) -> dict[str, Any]:
        """One invoice, paid; one attempt, succeeded; one charge in the provider's ledger."""
        invoice = await self.one(Invoice, customer_id=customer)
        assert (invoice["status"], invoice["amount_paid"]) == ("paid", invoice["total"])
        attempt = await self.one(PaymentAttempt, invoice_id=invoice["id"])
        assert attempt["status"] == "succeeded"
        charge = await self.one(SandboxCharge, customer_id=customer)
        assert charge["idempotency_key"] == attempt["idempotency_key"]
        assert charge["status"] == "succeeded"
        assert attempt["provider_charge_id"] == charge["charge_id"]
        sub = await self.one(Subscription, customer_id=customer)
        assert sub["status"] == "active"
        types = await self.event_types(customer)
        assert types["invoice.paid"] == 1
        assert types["subscription.activated"] == 1
        return attempt


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    world = World(database_url)
    try:
        yield world
    finally:
        for db in world.databases:
            await db.dispose()


async def test_a_crash_before_the_provider_call(world: World) -> None:
    customer = await world.crashed_subscribe(CrashBeforeCharge)
    attempt = await world.one(PaymentAttempt, customer_id=customer)
    assert attempt["status"] == "pending"
    assert await world.rows(SandboxCharge) == []
    assert (await world.one(Subscription, customer_id=customer))["status"] == "incomplete"

    # While the lease runs the first caller may still be alive: hands off.
    assert await recover_stale(world.healthy) == 0
    assert await world.rows(SandboxCharge) == []

    await world.expire_leases()
    assert await recover_stale(world.healthy) == 1
    recovered = await world.assert_paid_once(customer)
    assert recovered["id"] == attempt["id"]
    assert await recover_stale(world.healthy) == 0  # nothing left over
    assert len(await world.rows(SandboxCharge)) == 1


async def test_charged_but_the_outcome_was_never_stored(world: World) -> None:
    customer = await world.crashed_subscribe(CrashBeforeCharge)
    attempt = await world.one(PaymentAttempt, customer_id=customer)
    # The provider call went through; the process died before it could store the outcome.
    async with world.db.read() as session:
        [pending] = await load_pending(session, [attempt["id"]], for_update=False)
    result = await world.healthy.provider.charge(
        pending.charge_request(f"Invoice {attempt['invoice_id']}")
    )
    [charge] = await world.rows(SandboxCharge)
    assert (charge["idempotency_key"], charge["charge_id"]) == (
        attempt["idempotency_key"],
        result.charge_id,
    )
    assert (await world.one(PaymentAttempt, id=attempt["id"]))["status"] == "pending"

    await world.expire_leases()
    assert await recover_stale(world.healthy) == 1
    recovered = await world.assert_paid_once(customer)
    assert recovered["provider_charge_id"] == result.charge_id  # looked up, not charged again


async def test_a_crash_right_after_the_provider_charged(world: World) -> None:
    customer = await world.crashed_subscribe(CrashAfterCharge)
    assert len(await world.rows(SandboxCharge)) == 1
    assert (await world.one(PaymentAttempt, customer_id=customer))["status"] == "pending"
    await world.expire_leases()
    assert await recover_stale(world.healthy) == 1
    await world.assert_paid_once(customer)


async def test_once_the_outcome_is_stored_nothing_charges_again(world: World) -> None:
    customer = await world.customer()
    result = await world.subscribe(world.healthy, customer)
    attempt = await world.assert_paid_once(customer)
    events_before = await world.event_types(customer)

    await world.expire_leases()
    assert await recover_stale(world.healthy) == 0
    now = world.clock.now()
    assert await run_due(world.healthy, test_clock_id=None, now=now, actor="worker") == 0
    assert await collect(world.healthy, [attempt["id"]], actor="retry") == []
    await run_once(world.healthy)

    await world.assert_paid_once(customer)
    assert await world.event_types(customer) == events_before
    assert result.invoice_id == (await world.one(Invoice, customer_id=customer))["id"]


async def test_a_crash_before_charging_a_renewal(world: World) -> None:
    customer = await world.customer()
    await world.subscribe(world.healthy, customer)
    world.clock.set(datetime(2025, 3, 1, 10, tzinfo=UTC))
    with pytest.raises(Crash):
        now = world.clock.now()
        await run_due(world.runtime(CrashBeforeCharge), test_clock_id=None, now=now, actor="w")
    renewal = await world.one(Invoice, customer_id=customer, status="open")
    assert len(await world.rows(SandboxCharge)) == 1  # only the first period's charge

    # A restarted worker: its renewal pass has nothing due, recovery finishes the charge.
    await world.expire_leases()
    await run_once(world.runtime())
    invoices = await world.rows(Invoice, customer_id=customer)
    assert {(i["id"], i["status"]) for i in invoices} >= {(renewal["id"], "paid")}
    assert {i["status"] for i in invoices} == {"paid"} and len(invoices) == 2
    charges = Counter(c["idempotency_key"].split(":")[0] for c in await world.rows(SandboxCharge))
    assert charges == Counter({i["id"]: 1 for i in invoices})
    assert (await world.event_types(customer))["subscription.renewed"] == 1


async def test_timeout_after_charge_is_recovered_without_a_second_charge(world: World) -> None:
    customer = await world.customer()
    result = await world.subscribe(world.healthy, customer, "pm_card_timeout_after_charge")
    assert result.payment is not None and result.payment.result is None  # outcome unknown
    attempt = await world.one(PaymentAttempt, customer_id=customer)
    assert (attempt["status"], attempt["provider_charge_id"]) == ("pending", None)
    assert (await world.one(Subscription, customer_id=customer))["status"] == "incomplete"
    assert len(await world.rows(SandboxCharge)) == 1

    assert await recover_stale(world.healthy) == 0  # lease still running
    await world.expire_leases()
    assert await recover_stale(world.healthy) == 1
    await world.assert_paid_once(customer)


async def test_after_a_long_outage_unknown_payments_resolve_before_expiry(world: World) -> None:
    """The charge went through, then everything was down for two days. On restart the worker
    must not expire the subscription (and void its paid-for invoice) before it has asked the
    provider what happened to the pending attempt."""
    customer = await world.customer()
    await world.subscribe(world.healthy, customer, "pm_card_timeout_after_charge")
    world.clock.set(T0 + timedelta(days=2))  # past the 23-hour incomplete window
    await world.expire_leases()

    await run_once(world.runtime())

    await world.assert_paid_once(customer)
    assert (await world.event_types(customer))["subscription.incomplete_expired"] == 0


async def test_two_collectors_on_one_pending_attempt(world: World) -> None:
    customer = await world.crashed_subscribe(CrashBeforeCharge)
    attempt = await world.one(PaymentAttempt, customer_id=customer)
    first, second = world.runtime(), world.runtime()

    outcomes = await asyncio.gather(
        collect(first, [attempt["id"]], actor="a"), collect(second, [attempt["id"]], actor="b")
    )
    known = [o for batch in outcomes for o in batch if o.result is not None]
    assert known, outcomes  # at least one of them learnt the outcome
    assert {o.result.charge_id for o in known if o.result} == {
        c["charge_id"] for c in await world.rows(SandboxCharge)
    }
    await world.assert_paid_once(customer)
    sub = await world.one(Subscription, customer_id=customer)
    history = await world.rows(SubscriptionHistory, subscription_id=sub["id"])
    assert [h["to_status"] for h in history] == ["incomplete", "active"]  # activated once


async def test_two_recovery_sweeps_at_once(world: World) -> None:
    customers = [await world.crashed_subscribe(CrashBeforeCharge) for _ in range(3)]
    await world.expire_leases()
    first, second = world.runtime(), world.runtime()
    resolved = await asyncio.gather(recover_stale(first), recover_stale(second))
    assert sum(resolved) == 3  # each attempt resolved by exactly one sweep
    for customer in customers:
        await world.assert_paid_once(customer)
    assert len(await world.rows(SandboxCharge)) == 3
