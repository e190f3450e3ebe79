"""Refunds by webhook: a refund made in the provider's dashboard becomes a credit note (once);
a refund Tenure asked for is confirmed, failed or reversed by the provider's later events."""

from __future__ import annotations

from typing import Any

from tenure.billing import service as invoices
from tenure.billing.records import CreditNoteRecord, InvoiceRecord
from tenure.flows import refunds
from tenure.payments import attempts
from tenure.payments.inbox import InboxEvent
from tests.support.provider_world import World


async def _paid(world: World) -> tuple[str, InvoiceRecord, str]:
    _, customer, result = await world.subscriber("pm_card_visa")
    assert result.invoice_id is not None
    async with world.runtime.db.read() as session:
        invoice = await invoices.get(session, result.invoice_id)
        charge = await attempts.succeeded_charge(session, invoice.id)
    assert invoice.status.value == "paid" and charge is not None and charge.provider_charge_id
    return customer, invoice, charge.provider_charge_id


async def _after(world: World, invoice_id: str) -> tuple[InvoiceRecord, list[CreditNoteRecord]]:
    async with world.runtime.db.read() as session:
        return await invoices.get(session, invoice_id), await invoices.credit_notes_of(
            session, invoice_id
        )


def _refund_event(
    world: World, payment: str, refund_id: str, amount: int, **extra: Any
) -> InboxEvent:
    if world.kind == "stripe":
        obj = {"id": refund_id, "amount": amount, "currency": "sek", "status": "succeeded",
               "payment_intent": payment, "metadata": {}, "reason": None, **extra}  # fmt: skip
        return world.stripe("refund.created", obj)
    return world.adyen(
        extra.pop("code", "REFUND"), pspReference=refund_id, originalReference=payment,
        merchantReference=extra.pop("reference", "dashboard"),
        amount={"value": amount, "currency": "SEK"}, **extra,
    )  # fmt: skip


async def test_a_dashboard_refund_becomes_one_credit_note(world: World) -> None:
    customer, invoice, payment = await _paid(world)
    event = _refund_event(world, payment, "re_dash_1" if world.kind == "stripe" else "DASH1", 2900)
    await world.deliver(event)
    await world.deliver(event)  # the same delivery again
    if world.kind == "stripe":  # Stripe also sends charge.refunded listing the same refund
        listed = {"id": "re_dash_1", "amount": 2900, "currency": "sek", "status": "succeeded",
                  "payment_intent": payment, "metadata": {}}  # fmt: skip
        charge = {"id": "ch_x", "payment_intent": payment, "refunds": {"data": [listed]}}
        await world.deliver(world.stripe("charge.refunded", charge))
    after, notes = await _after(world, invoice.id)
    assert after.amount_refunded == 2900
    assert [(n.amount, n.status.value) for n in notes] == [(2900, "succeeded")]
    assert "dashboard" in notes[0].reason
    assert (await world.events(customer)).count("invoice.refunded") == 1
    # A second dashboard refund larger than what is left is recorded for what is left.
    rest = _refund_event(world, payment, "re_dash_2" if world.kind == "stripe" else "DASH2", 99_999)
    await world.deliver(rest)
    after, notes = await _after(world, invoice.id)
    assert after.amount_refunded == after.amount_paid
    assert [n.amount for n in notes] == [2900, after.amount_paid - 2900]


async def test_a_refund_for_a_payment_tenure_never_collected_is_ignored(world: World) -> None:
    await _paid(world)
    await world.deliver(
        _refund_event(world, "pi_unknown" if world.kind == "stripe" else "UNKNOWN", "R9", 100)
    )
    [(_, status, note)] = await world.inbox_rows()
    assert status == "ignored" and "no payment" in (note or "")


async def test_tenures_refund_is_confirmed_failed_or_reversed_by_the_provider(world: World) -> None:
    customer, invoice, payment = await _paid(world)
    outcome = await refunds.refund(
        world.runtime, invoice_id=invoice.id, amount=1000, reason="goodwill", actor="test"
    )
    note = outcome.note
    if world.kind == "adyen":
        # Adyen answers "received": the note waits for the REFUND notification.
        assert not outcome.settled and note.status.value == "pending"
        assert (await _after(world, invoice.id))[0].amount_refunded == 0
        sent = world.fake.refunds[-1]
        confirm = _refund_event(
            world, payment, sent["pspReference"], 1000, reference=sent["reference"]
        )
        await world.deliver(confirm)
        failed = _refund_event(world, payment, sent["pspReference"], 1000,
                               reference=sent["reference"], code="REFUND_FAILED")  # fmt: skip
    else:
        assert outcome.settled and note.status.value == "succeeded"
        refund_id = note.provider_refund_id
        assert refund_id is not None
        # Stripe's own events about it find the note recorded: nothing changes.
        mine = {"tenure_idempotency_key": note.idempotency_key}
        await world.deliver(_refund_event(world, payment, refund_id, 1000, metadata=mine))
        failed = world.stripe(
            "refund.failed",
            {"id": refund_id, "amount": 1000, "currency": "sek", "status": "failed",
             "payment_intent": payment, "metadata": {}},
        )  # fmt: skip
    after, notes = await _after(world, invoice.id)
    assert after.amount_refunded == 1000 and [n.status.value for n in notes] == ["succeeded"]
    assert (await world.events(customer)).count("invoice.refunded") == 1
    # The refund fails after it was confirmed: the cash counts as captured again.
    await world.deliver(failed)
    after, notes = await _after(world, invoice.id)
    assert after.amount_refunded == 0 and [n.status.value for n in notes] == ["reversed"]
    assert (await world.events(customer)).count("invoice.refund_reversed") == 1


async def test_an_adyen_refund_refused_later_fails_its_pending_note(world: World) -> None:
    if world.kind != "adyen":
        return
    _, invoice, payment = await _paid(world)
    await refunds.refund(world.runtime, invoice_id=invoice.id, amount=500, reason="r", actor="t")
    sent = world.fake.refunds[-1]
    await world.deliver(_refund_event(world, payment, sent["pspReference"], 500,
                                      reference=sent["reference"], success="false",
                                      reason="Insufficient in balance"))  # fmt: skip
    after, notes = await _after(world, invoice.id)
    assert after.amount_refunded == 0
    assert [(n.status.value, n.failure_message) for n in notes] == [
        ("failed", "Insufficient in balance")
    ]
