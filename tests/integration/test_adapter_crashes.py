"""The crash tests of tests/integration/test_charge_crashes.py again, with the Stripe and the
Adyen adapters pointed at their fake servers (the provider is injected through
``Runtime.provider``; the flows are unchanged): killed at every step, the provider's own
ledger shows exactly one successful charge per invoice."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db.engine import Database
from tenure.events.models import OutboxEvent
from tenure.flows import time_travel
from tenure.flows.assembly import assemble
from tenure.flows.runtime import Runtime
from tenure.kernel.clock import FixedClock
from tenure.payments.models import PaymentAttempt
from tenure.payments.ports import ChargeRequest, ChargeResult, PaymentProvider
from tests.integration.test_charge_crashes import (
    FEB,
    KILLS,
    START,
    Killed,
    _rerun_worker,
    _subscriber,
)
from tests.support.fakes import (
    HOLD,
    adyen_provider,
    fault,
    new_adyen_fake,
    new_stripe_fake,
    running,
    stripe_provider,
)

PROVIDERS = ["stripe", "adyen"]


class Killable:
    """The adapter, with the same kill switches as the sandbox double of the original tests."""

    def __init__(self, inner: Any) -> None:
        self.inner: PaymentProvider = inner
        self.name = inner.name
        self.kill_before_call = False
        self.kill_after_charge = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        if self.kill_before_call:
            self.kill_before_call = False
            raise Killed("before the provider call")
        result = await self.inner.charge(request)
        if self.kill_after_charge:
            self.kill_after_charge = False
            raise Killed("after the provider charged, before the outcome was stored")
        return result


@pytest.fixture(params=PROVIDERS)
def world(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, Any]]:
    fake = new_stripe_fake() if request.param == "stripe" else new_adyen_fake()
    with running(fake) as server:
        yield request.param, fake, server


@pytest.fixture
async def runtime(database: Database, world: tuple[str, Any, Any]) -> AsyncIterator[Runtime]:
    kind, _, server = world
    adapter = (stripe_provider if kind == "stripe" else adyen_provider)(database, server)
    yield assemble(
        db=database,
        catalog=load_catalog(default_catalog_path()),
        provider=Killable(adapter),  # type: ignore[arg-type]
        clock=FixedClock(START),
    )
    await adapter.aclose()


def _succeeded_per_invoice(kind: str, fake: Any) -> dict[str, int]:
    if kind == "stripe":
        keys = [c["key"] for c in fake.charges if c["status"] == "succeeded"]
    else:
        keys = [p["reference"] for p in fake.payments.values() if p["resultCode"] == "Authorised"]
    counts: dict[str, int] = {}
    for key in keys:
        invoice = key.split(":")[0]
        counts[invoice] = counts.get(invoice, 0) + 1
    return counts


async def _tenure_side(runtime: Runtime, customer: str) -> tuple[list[str], int]:
    async with runtime.db.read() as session:
        statuses = (
            await session.scalars(
                select(PaymentAttempt.status).where(PaymentAttempt.customer_id == customer)
            )
        ).all()
        paid = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(
                OutboxEvent.customer_id == customer, OutboxEvent.type == "invoice.paid"
            )
        )  # fmt: skip
    return sorted(statuses), int(paid or 0)


@pytest.mark.parametrize("where", list(KILLS))
async def test_a_renewal_killed_at_any_step_is_charged_exactly_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, where: str, world: tuple[str, Any, Any]
) -> None:
    kind, fake, _ = world
    clock, customer = await _subscriber(runtime, "pm_card_visa")
    await KILLS[where](runtime, monkeypatch)
    with pytest.raises(Killed):
        await time_travel.advance(runtime, clock_id=clock, to=FEB)
    monkeypatch.undo()
    for _ in range(2):
        await _rerun_worker(runtime)
        await time_travel.advance(runtime, clock_id=clock, to=FEB + timedelta(hours=1))
    assert list(_succeeded_per_invoice(kind, fake).values()) == [1, 1]
    assert await _tenure_side(runtime, customer) == (["succeeded", "succeeded"], 2)


@pytest.mark.parametrize("where", list(KILLS))
async def test_a_dunning_retry_killed_at_any_step_is_charged_exactly_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, where: str, world: tuple[str, Any, Any]
) -> None:
    kind, fake, _ = world
    clock, customer = await _subscriber(runtime, "pm_card_recovers_on_retry")
    await time_travel.advance(runtime, clock_id=clock, to=FEB)  # attempt 1 declines softly
    await KILLS[where](runtime, monkeypatch)
    with pytest.raises(Killed):
        await time_travel.advance(runtime, clock_id=clock, to=FEB + timedelta(days=1))
    monkeypatch.undo()
    for _ in range(2):
        await _rerun_worker(runtime)
        await time_travel.advance(runtime, clock_id=clock, to=FEB + timedelta(days=2))
    assert list(_succeeded_per_invoice(kind, fake).values()) == [1, 1]
    assert await _tenure_side(runtime, customer) == (["failed", "succeeded", "succeeded"], 2)


async def test_a_timeout_after_the_provider_charged_is_looked_up_not_charged_again(
    runtime: Runtime, world: tuple[str, Any, Any]
) -> None:
    kind, fake, server = world
    clock, customer = await _subscriber(runtime, "pm_card_visa")
    path = "/v1/payment_intents" if kind == "stripe" else "/v71/payments"
    fault(server, fault="timeout_after_charge", delay=HOLD, path=path)
    await time_travel.advance(runtime, clock_id=clock, to=FEB)
    assert (await _tenure_side(runtime, customer))[0] == ["pending", "succeeded"]
    await _rerun_worker(runtime)
    await time_travel.advance(runtime, clock_id=clock, to=FEB + timedelta(days=3))
    assert list(_succeeded_per_invoice(kind, fake).values()) == [1, 1]
    assert await _tenure_side(runtime, customer) == (["succeeded", "succeeded"], 2)
