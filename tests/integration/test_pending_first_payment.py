"""Issue 10: an ``incomplete`` subscription never expires while its first payment is pending.

The charge went through but the caller never heard back (the attempt is pending, its lease
still running). When the 23-hour window ends, the due work asks the provider about the attempt
first (a lookup by its idempotency key): it was paid, so the subscription activates instead of
expiring and voiding an invoice the customer paid.
"""

from __future__ import annotations

from datetime import timedelta

from tenure.flows.due import run_due
from tenure.payments.models import PaymentAttempt
from tenure.payments.ports import ChargeRequest, ChargeResult, ProviderUnavailable
from tenure.payments.sandbox import SandboxProvider
from tenure.subscriptions.models import Subscription
from tests.integration.test_crash_recovery import T0, World
from tests.integration.test_crash_recovery import world as world  # the fixture


class ProviderDown(SandboxProvider):
    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        raise ProviderUnavailable("down")

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        raise ProviderUnavailable("down")


async def test_expiry_waits_for_a_lookup_of_the_pending_attempt(world: World) -> None:
    customer = await world.customer()
    await world.subscribe(world.healthy, customer, "pm_card_timeout_after_charge")
    attempt = await world.one(PaymentAttempt, customer_id=customer)
    assert attempt["status"] == "pending"  # and its lease is still running
    world.clock.set(T0 + timedelta(days=2))

    await run_due(world.healthy, test_clock_id=None, now=world.clock.now(), actor="worker")

    await world.assert_paid_once(customer)
    assert (await world.one(Subscription, customer_id=customer))["status"] == "active"
    assert (await world.event_types(customer))["subscription.incomplete_expired"] == 0


async def test_with_the_provider_down_expiry_is_postponed_not_taken(world: World) -> None:
    customer = await world.customer()
    await world.subscribe(world.healthy, customer, "pm_card_timeout_after_charge")
    world.clock.set(T0 + timedelta(days=2))
    down = world.runtime(ProviderDown)

    await run_due(down, test_clock_id=None, now=world.clock.now(), actor="worker")

    sub = await world.one(Subscription, customer_id=customer)
    assert sub["status"] == "incomplete"
    assert sub["next_action_at"] > world.clock.now()  # looked at again later, not in a loop
    assert (await world.event_types(customer))["subscription.incomplete_expired"] == 0
    # The provider is back: the lookup finds the charge and the subscription activates.
    world.clock.set(world.clock.now() + timedelta(minutes=5))
    await run_due(world.healthy, test_clock_id=None, now=world.clock.now(), actor="worker")
    await world.assert_paid_once(customer)
    assert (await world.one(Subscription, customer_id=customer))["status"] == "active"
