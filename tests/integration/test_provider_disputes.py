"""Disputes by webhook: opened, won, lost (in the providers' timestamp order, once), the
invoice shows them, and a lost dispute follows the catalog's policy."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime

import pytest

from tenure.billing import disputes
from tenure.catalog.model import DisputePolicy
from tenure.flows import refunds
from tenure.payments import attempts
from tenure.payments.inbox import InboxEvent
from tenure.subscriptions import record as subs
from tests.support.provider_world import World

STAGES = {  # (opened, won, lost) as each provider says it
    "stripe": ("charge.dispute.created", "charge.dispute.closed", "charge.dispute.closed"),
    "adyen": ("NOTIFICATION_OF_CHARGEBACK", "CHARGEBACK_REVERSED", "SECOND_CHARGEBACK"),
}


async def _paid(world: World) -> tuple[str, str, str, str]:
    _, customer, result = await world.subscriber("pm_card_visa")
    assert result.invoice_id is not None
    async with world.runtime.db.read() as session:
        charge = await attempts.succeeded_charge(session, result.invoice_id)
    assert charge is not None and charge.provider_charge_id
    return customer, result.subscription_id, result.invoice_id, charge.provider_charge_id


def _stage(world: World, payment: str, stage: str, *, at: int | None = None) -> InboxEvent:
    at = at or int(time.time())
    opened, won, lost = STAGES[world.kind]
    code = {"opened": opened, "won": won, "lost": lost}[stage]
    if world.kind == "stripe":
        status = {"opened": "needs_response", "won": "won", "lost": "lost"}[stage]
        obj = {"id": f"dp_{payment[-8:]}", "payment_intent": payment, "charge": "ch_x",
               "amount": 12900, "currency": "sek", "reason": "fraudulent",
               "status": status}  # fmt: skip
        return world.stripe(code, obj, created=at)
    return world.adyen(
        code, pspReference=f"D{at}{stage}", originalReference=payment,
        amount={"value": 12900, "currency": "SEK"},
        eventDate=datetime.fromtimestamp(at, UTC).isoformat(),
        additionalData={"chargebackReasonCode": "10.4"},
    )  # fmt: skip


async def _sub_status(world: World, sub_id: str) -> tuple[str, str | None]:
    async with world.runtime.db.read() as session:
        sub = await subs.load_one(session, sub_id, for_update=False)
    assert sub is not None
    return sub.status, sub.ended_reason


async def _disputes(world: World, invoice_id: str) -> list[str]:
    async with world.runtime.db.read() as session:
        found = (await disputes.for_invoices(session, [invoice_id])).get(invoice_id, [])
    return [d.status.value for d in found]


async def test_a_lost_dispute_cancels_now_and_the_invoice_shows_it(world: World) -> None:
    customer, sub_id, invoice_id, payment = await _paid(world)
    opened = _stage(world, payment, "opened")
    await world.deliver(opened)
    await world.deliver(opened)  # a duplicate delivery
    assert await _disputes(world, invoice_id) == ["open"]
    assert await _sub_status(world, sub_id) == ("active", None)
    with pytest.raises(Exception) as refused:  # the bank holds the money: no refund now
        await refunds.refund(
            world.runtime, invoice_id=invoice_id, amount=None, reason="x", actor="t"
        )
    assert getattr(refused.value, "code", None) == "invoice_disputed"
    lost = _stage(world, payment, "lost", at=int(time.time()) + 5)
    await world.deliver(lost)
    await world.deliver(_stage(world, payment, "lost", at=int(time.time()) + 9))  # again
    assert await _disputes(world, invoice_id) == ["lost"]
    assert await _sub_status(world, sub_id) == ("canceled", "dispute_lost")
    types = await world.events(customer)
    assert [t for t in types if t.startswith("dispute.")] == ["dispute.opened", "dispute.lost"]
    assert types.count("subscription.canceled") == 1


async def test_a_won_dispute_keeps_the_subscription(world: World) -> None:
    customer, sub_id, invoice_id, payment = await _paid(world)
    await world.deliver(_stage(world, payment, "opened"))
    await world.deliver(_stage(world, payment, "won", at=int(time.time()) + 5))
    assert await _disputes(world, invoice_id) == ["won"]
    assert await _sub_status(world, sub_id) == ("active", None)
    types = await world.events(customer)
    assert [t for t in types if t.startswith("dispute.")] == ["dispute.opened", "dispute.won"]


async def test_events_are_applied_in_the_providers_order(world: World) -> None:
    customer, _, invoice_id, payment = await _paid(world)
    now = int(time.time())
    # Delivered newest first, in one batch: processed oldest first (opened, then lost).
    await world.deliver(
        _stage(world, payment, "lost", at=now + 60), _stage(world, payment, "opened", at=now)
    )
    assert await _disputes(world, invoice_id) == ["lost"]
    types = await world.events(customer)
    assert [t for t in types if t.startswith("dispute.")] == ["dispute.opened", "dispute.lost"]
    # An opening delivered after the decision changes nothing.
    await world.deliver(_stage(world, payment, "opened", at=now - 60))
    assert await _disputes(world, invoice_id) == ["lost"]
    assert (await world.inbox_rows())[-1][1] == "ignored"


async def test_the_catalog_policy_none_leaves_the_subscription_alone(world: World) -> None:
    runtime = world.runtime
    runtime.catalog = dataclasses.replace(runtime.catalog, disputes=DisputePolicy(on_lost="none"))
    _, sub_id, invoice_id, payment = await _paid(world)
    await world.deliver(_stage(world, payment, "lost"))  # decided without an opening first
    assert await _disputes(world, invoice_id) == ["lost"]
    assert await _sub_status(world, sub_id) == ("active", None)


async def test_a_dispute_on_a_payment_tenure_never_made_is_ignored(world: World) -> None:
    await _paid(world)
    await world.deliver(
        _stage(world, "pi_elsewhere" if world.kind == "stripe" else "ELSEWHERE", "opened")
    )
    [(_, status, note)] = await world.inbox_rows()
    assert status == "ignored" and "no payment" in (note or "")
