"""Strong customer authentication: a first payment that needs 3-D Secure leaves the
subscription incomplete with a next_action; the provider's webhook or a pay completes it,
never charging twice. Off-session, the same answer is a hard decline with a billing issue."""

from __future__ import annotations

from datetime import timedelta

from tenure.api.resources.subscriptions import subscription_detail_of
from tenure.dunning import cases
from tenure.flows import manage, time_travel
from tenure.payments import attempts
from tenure.payments.inbox import InboxEvent
from tenure.subscriptions import record as subs
from tests.support.provider_world import FEB, World

SCA_TOKEN = {"stripe": "pm_card_authenticationRequired", "adyen": "stored_challenge"}


def authenticated(world: World, key: str) -> InboxEvent:
    """The customer authenticated; the provider says so by webhook."""
    if world.kind == "stripe":
        charge = next(c for c in world.fake.charges if c["key"] == key)
        intent = world.fake.settle(charge["payment_intent"])
        return world.stripe("payment_intent.succeeded", intent)
    payment = next(p for p in world.fake.payments.values() if p["reference"] == key)
    return world.adyen(
        "AUTHORISATION", pspReference=payment["pspReference"], merchantReference=key,
        amount=payment["amount"], success="true",
    )  # fmt: skip


async def _state(world: World, sub_id: str, invoice_id: str) -> tuple[str, list[str]]:
    async with world.runtime.db.read() as session:
        sub = await subs.load_one(session, sub_id, for_update=False)
        tries = await attempts.for_invoice(session, invoice_id)
    assert sub is not None
    return sub.status, [a.status.value for a in tries]


def _charges(world: World) -> int:
    if world.kind == "stripe":
        return len(world.fake.charges)
    return len(world.fake.payments)


async def test_a_first_payment_needing_3ds_waits_with_a_next_action_and_the_webhook_completes_it(
    world: World,
) -> None:
    _, customer, result = await world.subscriber(SCA_TOKEN[world.kind])
    assert result.payment is not None and result.payment.result is not None
    action = result.payment.result.next_action
    assert action is not None and action.provider == world.kind
    if world.kind == "stripe":
        assert action.client_secret and action.client_secret.startswith(action.reference)
    else:
        assert action.action is not None and action.action["type"] == "threeDS2"
    assert result.invoice_id is not None
    assert await _state(world, result.subscription_id, result.invoice_id) == (
        "incomplete", ["requires_action"],
    )  # fmt: skip
    types = await world.events(customer)
    assert "invoice.payment_action_required" in types and "invoice.payment_failed" not in types
    async with world.runtime.db.read() as session:
        [attempt] = await attempts.for_invoice(session, result.invoice_id)
    await world.deliver(authenticated(world, attempt.idempotency_key))
    assert await _state(world, result.subscription_id, result.invoice_id) == (
        "active", ["succeeded"],
    )  # fmt: skip
    assert (await world.events(customer)).count("subscription.activated") == 1
    assert _charges(world) == 1


async def test_pay_asks_the_provider_first_and_never_charges_twice(world: World) -> None:
    _, _, result = await world.subscriber(SCA_TOKEN[world.kind])
    assert result.invoice_id is not None
    # Not authenticated yet: pay hands the same next_action back, and charges nothing new.
    waiting = await manage.pay_invoice(
        world.runtime, invoice_id=result.invoice_id, payment_method=None, actor="test"
    )
    assert waiting.outcome is not None and waiting.outcome.result is not None
    assert waiting.outcome.result.next_action is not None
    assert _charges(world) == 1
    if world.kind == "stripe":  # the customer authenticates; pay then finds it succeeded
        async with world.runtime.db.read() as session:
            [attempt] = await attempts.for_invoice(session, result.invoice_id)
        world.fake.settle(
            next(c for c in world.fake.charges if c["key"] == attempt.idempotency_key)[
                "payment_intent"
            ]
        )
        paid = await manage.pay_invoice(
            world.runtime, invoice_id=result.invoice_id, payment_method=None, actor="test"
        )
        assert paid.outcome is not None and paid.outcome.result is not None
        assert paid.outcome.result.status.value == "succeeded"
        assert await _state(world, result.subscription_id, result.invoice_id) == (
            "active", ["succeeded"],
        )  # fmt: skip
        assert _charges(world) == 1


async def test_an_off_session_renewal_needing_authentication_is_a_billing_issue(
    world: World,
) -> None:
    clock, _, result = await world.subscriber(SCA_TOKEN[world.kind])
    assert result.invoice_id is not None
    async with world.runtime.db.read() as session:
        [first] = await attempts.for_invoice(session, result.invoice_id)
    await world.deliver(authenticated(world, first.idempotency_key))
    await time_travel.advance(world.runtime, clock_id=clock, to=FEB)
    async with world.runtime.db.read() as session:
        sub = await subs.load_one(session, result.subscription_id, for_update=False)
        case = (await cases.open_cases(session, [result.subscription_id])).get(
            result.subscription_id
        )
    assert sub is not None and sub.status == "past_due" and case is not None
    assert sub.next_retry_at is None  # hard: no retry ladder, wait for the customer
    detail = subscription_detail_of(sub, None, case)
    assert detail.billing_issue is not None
    assert detail.billing_issue.reason == "authentication_required"
    assert detail.billing_issue.invoice == case.invoice_id
    # Nothing is retried off-session while the customer is away.
    before = _charges(world)
    await time_travel.advance(world.runtime, clock_id=clock, to=FEB + timedelta(days=6))
    assert _charges(world) == before
    # Back on-session: pay asks for authentication again (a new on-session attempt).
    back = await manage.pay_invoice(
        world.runtime, invoice_id=case.invoice_id, payment_method=None, actor="test"
    )
    assert back.outcome is not None and back.outcome.result is not None
    assert back.outcome.result.next_action is not None


async def test_adyen_pay_forwards_the_shoppers_authentication_to_payments_details(
    world: World,
) -> None:
    if world.kind != "adyen":
        return
    _, customer, result = await world.subscriber(SCA_TOKEN["adyen"])
    assert result.invoice_id is not None and result.payment is not None
    assert result.payment.result is not None and result.payment.result.next_action is not None
    psp = result.payment.result.next_action.reference
    # Drop-in's onAdditionalDetails hands state.data.details to the client, which pays with it.
    paid = await manage.pay_invoice(
        world.runtime, invoice_id=result.invoice_id, payment_method=None, actor="test",
        authentication_details={"threeDSResult": f"{psp}:Y"},
    )  # fmt: skip
    assert paid.outcome is not None and paid.outcome.result is not None
    assert paid.outcome.result.status.value == "succeeded"
    assert await _state(world, result.subscription_id, result.invoice_id) == (
        "active", ["succeeded"],
    )  # fmt: skip
    assert _charges(world) == 1  # the same payment, completed; nothing charged again
    assert world.fake.violations == []
    assert (await world.events(customer)).count("invoice.paid") == 1


async def test_adyen_authentication_refused_fails_the_attempt(world: World) -> None:
    if world.kind != "adyen":
        return
    _, _, result = await world.subscriber(SCA_TOKEN["adyen"])
    assert result.invoice_id is not None and result.payment is not None
    assert result.payment.result is not None and result.payment.result.next_action is not None
    psp = result.payment.result.next_action.reference
    # Refused: the waiting attempt fails; pay then tries again on-session (a new challenge).
    again = await manage.pay_invoice(
        world.runtime, invoice_id=result.invoice_id, payment_method=None, actor="test",
        authentication_details={"threeDSResult": f"{psp}:N"},
    )  # fmt: skip
    assert await _state(world, result.subscription_id, result.invoice_id) == (
        "incomplete", ["failed", "requires_action"],
    )  # fmt: skip
    assert again.outcome is not None and again.outcome.result is not None
    assert again.outcome.result.next_action is not None
