"""Payment outcomes by webhook: a charge the provider decides later (Stripe ``processing``,
Adyen ``Received``) leaves its attempt pending; the provider's webhook settles it through the
same path as a synchronous answer. Duplicates and replays change nothing."""

from __future__ import annotations

from datetime import timedelta

from tenure.billing import service as invoices
from tenure.flows import time_travel
from tenure.payments import attempts
from tenure.payments.inbox import InboxEvent
from tenure.subscriptions import record as subs
from tests.support.provider_world import FEB, World

PROCESSING = "pm_card_processing"  # Stripe: a processing PaymentIntent; Adyen: "Received"


def decided(world: World, *, paid: bool) -> InboxEvent:
    """The provider decides the last payment it was asked for, and says so by webhook."""
    if world.kind == "stripe":
        intent_id = world.fake.charges[-1]["payment_intent"]
        intent = world.fake.settle(intent_id, decline_code=None if paid else "insufficient_funds")
        kind = "payment_intent.succeeded" if paid else "payment_intent.payment_failed"
        return world.stripe(kind, intent)
    payment = list(world.fake.payments.values())[-1]
    return world.adyen(
        "AUTHORISATION", pspReference=payment["pspReference"],
        merchantReference=payment["reference"], amount=payment["amount"],
        success="true" if paid else "false", reason="" if paid else "Not enough balance",
    )  # fmt: skip


async def _status(world: World, sub_id: str) -> str:
    async with world.runtime.db.read() as session:
        sub = await subs.load_one(session, sub_id, for_update=False)
        assert sub is not None
        return sub.status


async def test_a_first_payment_decided_later_is_recorded_once_by_its_webhook(
    world: World,
) -> None:
    _, customer, result = await world.subscriber(PROCESSING)
    assert result.payment is not None and result.payment.result is None  # outcome unknown
    assert await _status(world, result.subscription_id) == "incomplete"
    event = decided(world, paid=True)
    assert len(await world.deliver(event)) == 1
    assert await _status(world, result.subscription_id) == "active"
    assert result.invoice_id is not None
    async with world.runtime.db.read() as session:
        invoice = await invoices.get(session, result.invoice_id)
        tries = await attempts.for_invoice(session, result.invoice_id)
    assert invoice.status.value == "paid" and invoice.amount_paid == invoice.total
    assert [a.status.value for a in tries] == ["succeeded"]
    # The same delivery again (a retry, a replay) inserts nothing; a second event reporting
    # the same outcome (Stripe sends several) finds the attempt recorded and changes nothing.
    assert await world.deliver(event) == []
    if world.kind == "stripe":
        again = world.stripe(
            "payment_intent.succeeded", world.fake.intents[tries[0].provider_charge_id]
        )
        await world.deliver(again)
    types = await world.events(customer)
    assert types.count("invoice.paid") == 1 and types.count("subscription.activated") == 1
    rows = await world.inbox_rows()
    assert rows[0][1] == "processed"
    assert all(
        status == "ignored" and "already succeeded" in (note or "") for _, status, note in rows[1:]
    )


async def test_a_renewal_declined_later_enters_dunning(world: World) -> None:
    clock, customer, result = await world.subscriber(PROCESSING)
    await world.deliver(decided(world, paid=True))
    await time_travel.advance(world.runtime, clock_id=clock, to=FEB)
    assert await _status(world, result.subscription_id) == "active"  # renewal still pending
    await world.deliver(decided(world, paid=False))
    assert await _status(world, result.subscription_id) == "past_due"
    types = await world.events(customer)
    assert types.count("invoice.payment_failed") == 1 and "subscription.past_due" in types
    # The retry ladder goes on as after a synchronous decline (soft: retried next day).
    await time_travel.advance(world.runtime, clock_id=clock, to=FEB + timedelta(days=1, hours=1))
    async with world.runtime.db.read() as session:
        open_ = await invoices.search(
            session, customer_id=customer, subscription_id=None, status=None,
            starting_after=None, limit=10,
        )  # fmt: skip
        renewal = next(i for i in open_ if i.billing_reason.value == "subscription_cycle")
        tries = await attempts.for_invoice(session, renewal.id)
    assert [a.status.value for a in tries][:1] == ["failed"] and len(tries) == 2


async def test_events_naming_no_tenure_attempt_are_ignored(world: World) -> None:
    if world.kind == "stripe":
        event = world.stripe(
            "payment_intent.succeeded", {"id": "pi_other", "status": "succeeded", "metadata": {}}
        )
    else:
        event = world.adyen("AUTHORISATION", merchantReference="someone-else:1")
    await world.deliver(event)
    [(_, status, note)] = await world.inbox_rows()
    assert status == "ignored" and note is not None
