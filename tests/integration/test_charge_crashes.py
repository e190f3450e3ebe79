"""Kill a charge at every step and run the worker again: the provider's ledger always shows
exactly one successful charge per invoice, and the invoice, attempt and events agree.

The steps of a charge (flows/collect.py): the attempt is stored and committed; the provider is
called; the outcome, the invoice, the subscription and their events are stored in one
transaction. A "kill" is a BaseException, which nothing in Tenure catches, like a process dying.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tenure.catalog.loader import default_catalog_path, load_catalog
from tenure.db.engine import Database
from tenure.events.models import OutboxEvent
from tenure.flows import accounts, collect, time_travel
from tenure.flows.assembly import assemble
from tenure.flows.collect import recover_stale
from tenure.flows.payment_methods import set_default, token_for_subscribe
from tenure.flows.runtime import Runtime
from tenure.flows.subscribe import subscribe
from tenure.kernel.clock import FixedClock
from tenure.payments import attempts as payment_attempts
from tenure.payments import methods
from tenure.payments.models import PaymentAttempt, SandboxCharge
from tenure.payments.ports import ChargeRequest, ChargeResult
from tenure.payments.sandbox import SandboxProvider

START = datetime(2025, 1, 15, 9, tzinfo=UTC)
FEB = datetime(2025, 2, 15, 9, tzinfo=UTC)


class Killed(BaseException):
    """The worker died here."""


class KillableProvider(SandboxProvider):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.kill_before_call = False
        self.kill_after_charge = False

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        if self.kill_before_call:
            self.kill_before_call = False
            raise Killed("before the provider call")
        result = await super().charge(request)
        if self.kill_after_charge:
            self.kill_after_charge = False
            raise Killed("after the provider charged, before the outcome was stored")
        return result


@pytest.fixture
async def runtime(database: Database) -> AsyncIterator[Runtime]:
    yield assemble(
        db=database,
        catalog=load_catalog(default_catalog_path()),
        provider=KillableProvider(database),
        clock=FixedClock(START),
    )


async def _subscriber(runtime: Runtime, token: str) -> tuple[str, str]:
    clock = await accounts.create_test_clock(runtime, frozen_time=START, name=None)
    customer = await accounts.create_customer(
        runtime, external_id=f"u-{clock.id}", email="a@b.co", market="SE", test_clock_id=clock.id
    )
    pm = await token_for_subscribe(runtime, customer_id=customer.id, payment_method=token)
    result = await subscribe(
        runtime, customer_id=customer.id, plan_id="premium_individual_monthly",
        payment_method=pm, trial=False, actor="test",
    )  # fmt: skip
    assert result.payment is not None and result.payment.result is not None
    return clock.id, customer.id


async def _rerun_worker(runtime: Runtime) -> None:
    """A new worker starts: stale leases are taken over and resolved (lookup first)."""
    async with runtime.db.transaction() as session:
        await session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.status == "pending")
            .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    await recover_stale(runtime)


async def _state(runtime: Runtime, customer_id: str) -> dict[str, Any]:
    async with runtime.db.read() as session:
        charges = (
            await session.execute(
                select(SandboxCharge.idempotency_key, SandboxCharge.status).where(
                    SandboxCharge.customer_id == customer_id
                )
            )
        ).all()
        attempts = (
            await session.execute(
                select(PaymentAttempt.invoice_id, PaymentAttempt.status).where(
                    PaymentAttempt.customer_id == customer_id
                )
            )
        ).all()
        paid_events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.customer_id == customer_id, OutboxEvent.type == "invoice.paid")
        )
    succeeded: dict[str, int] = {}
    for key, status in charges:
        if status == "succeeded":
            invoice = key.split(":")[0]
            succeeded[invoice] = succeeded.get(invoice, 0) + 1
    return {
        "succeeded_charges": succeeded,
        "attempts": sorted(attempts),
        "paid_events": paid_events,
    }


Kill = Callable[[Runtime, pytest.MonkeyPatch], Awaitable[None]]


async def _before_call(runtime: Runtime, _: pytest.MonkeyPatch) -> None:
    runtime.provider.kill_before_call = True  # type: ignore[attr-defined]


async def _after_charge(runtime: Runtime, _: pytest.MonkeyPatch) -> None:
    runtime.provider.kill_after_charge = True  # type: ignore[attr-defined]


async def _after_storing_before_event(_: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Dies inside the outcome transaction after the attempt row was updated: it rolls back.
    original = payment_attempts.save_outcomes

    async def store_then_die(*args: Any, **kwargs: Any) -> None:
        await original(*args, **kwargs)
        monkeypatch.undo()
        raise Killed("after storing the outcome, before its events")

    monkeypatch.setattr(payment_attempts, "save_outcomes", store_then_die)


async def _after_commit(_: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    original = collect.record_outcomes

    async def commit_then_die(*args: Any, **kwargs: Any) -> None:
        monkeypatch.undo()
        await original(*args, **kwargs)
        raise Killed("after the outcome and its events were committed")

    monkeypatch.setattr(collect, "record_outcomes", commit_then_die)


KILLS: dict[str, Kill] = {
    "before_call": _before_call,
    "after_charge_before_store": _after_charge,
    "after_store_before_event": _after_storing_before_event,
    "after_commit": _after_commit,
}


@pytest.mark.parametrize("where", list(KILLS))
async def test_a_renewal_killed_at_any_step_is_charged_exactly_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    clock, customer = await _subscriber(runtime, "pm_card_visa")
    await KILLS[where](runtime, monkeypatch)
    with pytest.raises(Killed):
        await time_travel.advance(runtime, clock_id=clock, to=FEB)
    monkeypatch.undo()

    for _ in range(2):  # the worker may even run twice
        await _rerun_worker(runtime)
        await time_travel.advance(runtime, clock_id=clock, to=FEB + timedelta(hours=1))

    state = await _state(runtime, customer)
    assert list(state["succeeded_charges"].values()) == [1, 1]  # first invoice + renewal
    assert [status for _, status in state["attempts"]] == ["succeeded", "succeeded"]
    assert state["paid_events"] == 2


@pytest.mark.parametrize("where", list(KILLS))
async def test_a_dunning_retry_killed_at_any_step_is_charged_exactly_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    clock, customer = await _subscriber(runtime, "pm_card_recovers_on_retry")
    await time_travel.advance(runtime, clock_id=clock, to=FEB)  # attempt 1 declines softly
    await KILLS[where](runtime, monkeypatch)
    with pytest.raises(Killed):
        await time_travel.advance(runtime, clock_id=clock, to=FEB + timedelta(days=1))
    monkeypatch.undo()

    for _ in range(2):
        await _rerun_worker(runtime)
        await time_travel.advance(runtime, clock_id=clock, to=FEB + timedelta(days=2))

    state = await _state(runtime, customer)
    assert list(state["succeeded_charges"].values()) == [1, 1]
    statuses = sorted(status for _, status in state["attempts"])
    assert statuses == ["failed", "succeeded", "succeeded"]
    assert state["paid_events"] == 2


async def test_an_unknown_outcome_is_resolved_by_lookup_before_anything_else(
    runtime: Runtime,
) -> None:
    """pm_card_timeout_after_charge: the provider charges, then the caller times out."""
    clock, customer = await _subscriber(runtime, "pm_card_visa")
    async with runtime.db.transaction() as session:
        method = await methods.attach(
            session, customer_id=customer, token="pm_card_timeout_after_charge", at=START
        )
    await set_default(runtime, customer_id=customer, method_id=method.id, actor="test")
    await time_travel.advance(runtime, clock_id=clock, to=FEB)
    state = await _state(runtime, customer)
    assert sorted(status for _, status in state["attempts"]) == ["pending", "succeeded"]

    await _rerun_worker(runtime)
    await time_travel.advance(runtime, clock_id=clock, to=FEB + timedelta(days=3))
    state = await _state(runtime, customer)
    assert list(state["succeeded_charges"].values()) == [1, 1]
    assert [status for _, status in state["attempts"]] == ["succeeded", "succeeded"]
    assert state["paid_events"] == 2
