"""The Adyen adapter against the fake Adyen, which validates every request, response and
notification against Adyen's published OpenAPI schemas: refusals of every class, 3-D Secure,
pending results, unknown outcomes (replay by key, never a second payment), 5xx, 429, refunds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from tenure.db.engine import Database
from tenure.kernel.errors import InvalidRequest
from tenure.payments import inbox
from tenure.payments.fakes.adyen_fake import AdyenFake
from tenure.payments.fakes.server import FakeServer
from tenure.payments.ports import (
    ChargeRequest,
    ChargeStatus,
    DeclineClass,
    PaymentPending,
    ProviderUnavailable,
    RefundRequest,
)
from tenure.payments.providers.adyen_adapter import AdyenProvider
from tests.support.fakes import HOLD, adyen_provider, fault, new_adyen_fake, running

CUSTOMER = "cus_01JD3K6ZQ8N0V5X2T9E4M7B1CA"


@pytest.fixture
def fake() -> Iterator[AdyenFake]:
    fake = new_adyen_fake()
    yield fake
    assert fake.violations == [], "requests or responses broke Adyen's published schemas"


@pytest.fixture
def server(fake: AdyenFake) -> Iterator[FakeServer]:
    with running(fake) as server:
        yield server


@pytest.fixture
async def provider(database: Database, server: FakeServer) -> AsyncIterator[AdyenProvider]:
    provider = adyen_provider(database, server)
    yield provider
    await provider.aclose()


def _request(key: str, token: str, *, on_session: bool = False) -> ChargeRequest:
    return ChargeRequest(key, CUSTOMER, 1999, "EUR", token, "Invoice", on_session=on_session)


async def test_a_renewal_is_a_contauth_subscription_payment_with_the_attempt_key(
    provider: AdyenProvider, fake: AdyenFake
) -> None:
    card = await provider.store_method(
        customer_id=CUSTOMER, token="8415000000000001", provider_customer=None
    )
    assert (card.provider_customer, card.last4, card.exp_month, card.exp_year) == (
        CUSTOMER, "1111", 3, 2030,
    )  # fmt: skip
    result = await provider.charge(_request("in_1:attempt:1", "8415000000000001"))
    assert result.status is ChargeStatus.SUCCEEDED and result.charge_id in fake.payments
    body = fake.replays["in_1:attempt:1"][0]
    assert body["shopperInteraction"] == "ContAuth"
    assert body["recurringProcessingModel"] == "Subscription"
    assert body["shopperReference"] == CUSTOMER
    assert body["paymentMethod"] == {"type": "scheme", "storedPaymentMethodId": "8415000000000001"}
    assert body["amount"] == {"value": 1999, "currency": "EUR"}
    assert body["merchantOrderReference"] == "in_1"
    assert ("POST", "/v71/payments", "in_1:attempt:1") in fake.requests


async def test_an_unknown_token_is_refused_when_stored(provider: AdyenProvider) -> None:
    with pytest.raises(InvalidRequest):
        await provider.store_method(customer_id=CUSTOMER, token="nope", provider_customer=None)


@pytest.mark.parametrize(
    ("token", "code", "klass"),
    [
        ("stored_refused_12", "insufficient_funds", DeclineClass.SOFT),
        ("stored_refused_2", "refused", DeclineClass.SOFT),
        ("stored_refused_9", "issuer_unavailable", DeclineClass.SOFT),
        ("stored_refused_2_mac03", "refused", DeclineClass.HARD),
        ("stored_refused_5", "blocked_card", DeclineClass.HARD),
        ("stored_refused_6", "expired_card", DeclineClass.HARD),
        ("stored_refused_8", "invalid_card_number", DeclineClass.HARD),
        ("stored_refused_20", "fraud", DeclineClass.HARD),
        ("stored_refused_26", "revocation_of_authorization", DeclineClass.HARD),
        ("stored_refused_38", "authentication_required", DeclineClass.ACTION_REQUIRED),
        ("stored_error", "processing_error", DeclineClass.SOFT),
    ],
)
async def test_refusals_are_classified(
    provider: AdyenProvider, token: str, code: str, klass: DeclineClass
) -> None:
    result = await provider.charge(_request(f"k-{token}", token))
    assert result.status is ChargeStatus.DECLINED
    assert (result.decline_code, result.decline_class) == (code, klass)
    assert result.retryable is (klass is DeclineClass.SOFT)
    assert result.raw["resultCode"] in ("Refused", "Error")


async def test_a_challenge_hands_adyens_action_over(provider: AdyenProvider) -> None:
    result = await provider.charge(_request("k-3ds", "stored_challenge", on_session=True))
    assert result.decline_class is DeclineClass.ACTION_REQUIRED
    assert result.next_action is not None and result.next_action.action is not None
    assert result.next_action.action["type"] == "threeDS2"


async def test_received_is_pending_and_the_notification_settles_the_lookup(
    provider: AdyenProvider, database: Database, fake: AdyenFake
) -> None:
    with pytest.raises(PaymentPending):
        await provider.charge(_request("in_5:attempt:1", "stored_pending"))
    psp = next(iter(fake.payments))
    item = fake.item(
        "AUTHORISATION", pspReference=psp, merchantReference="in_5:attempt:1",
        amount={"value": 1999, "currency": "EUR"},
    )  # fmt: skip
    async with database.transaction() as session:
        await inbox.store(session, [inbox.parse_adyen_item(item)], at=datetime.now(UTC))
    found = await provider.lookup("in_5:attempt:1")
    assert found is not None and found.status is ChargeStatus.SUCCEEDED and found.charge_id == psp
    assert len(fake.payments) == 1


async def test_a_timeout_after_adyen_charged_is_resolved_by_replaying_the_key(
    provider: AdyenProvider, server: FakeServer, fake: AdyenFake
) -> None:
    fault(server, fault="timeout_after_charge", delay=HOLD)
    with pytest.raises(ProviderUnavailable):
        await provider.charge(_request("in_2:attempt:1", "8415000000000001"))
    assert len(fake.payments) == 1
    found = await provider.lookup("in_2:attempt:1")
    assert found is not None and found.status is ChargeStatus.SUCCEEDED
    assert found.charge_id == next(iter(fake.payments))
    assert len(fake.payments) == 1  # answered from Adyen's idempotency store
    assert await provider.lookup("never-sent") is None


@pytest.mark.parametrize(("kind", "retry_after"), [("server_error", None), ("rate_limit", 2.0)])
async def test_5xx_and_429_are_unknown_outcomes_and_the_same_key_then_pays_once(
    provider: AdyenProvider, server: FakeServer, fake: AdyenFake, kind: str,
    retry_after: float | None,
) -> None:  # fmt: skip
    fault(server, fault=kind, retry_after=2)
    with pytest.raises(ProviderUnavailable) as error:
        await provider.charge(_request("in_3:attempt:1", "8415000000000001"))
    assert error.value.retry_after == retry_after and fake.payments == {}
    result = await provider.charge(_request("in_3:attempt:1", "8415000000000001"))
    assert result.status is ChargeStatus.SUCCEEDED and len(fake.payments) == 1


async def test_refunds_are_received_then_confirmed_by_notification(
    provider: AdyenProvider, fake: AdyenFake
) -> None:
    paid = await provider.charge(_request("in_4:attempt:1", "8415000000000001"))
    assert paid.charge_id is not None
    refund = await provider.refund(RefundRequest("cn_1", paid.charge_id, 999, "EUR", "goodwill"))
    assert refund.succeeded and not refund.settled and refund.refund_id
    assert fake.refunds[0]["paymentPspReference"] == paid.charge_id
    too_much = await provider.refund(RefundRequest("cn_2", paid.charge_id, 1001, "EUR", "x"))
    assert not too_much.succeeded
    again = await provider.lookup_refund("cn_1")  # replays the key: the same refund
    assert again is not None and again.refund_id == refund.refund_id and len(fake.refunds) == 1
