"""The Stripe adapter against the fake Stripe (Stripe's own example objects): every decline
class, 3-D Secure, unknown outcomes resolved by lookup (never a second charge), 5xx, 429,
idempotent replay, refunds and stored payment methods."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tenure.db.engine import Database
from tenure.kernel.errors import InvalidRequest
from tenure.payments.fakes.server import FakeServer
from tenure.payments.fakes.stripe_fake import StripeFake
from tenure.payments.ports import (
    ChargeRequest,
    ChargeStatus,
    DeclineClass,
    ProviderUnavailable,
    RefundRequest,
)
from tenure.payments.providers.stripe_adapter import StripeProvider
from tests.support.fakes import HOLD, fault, new_stripe_fake, running, stripe_provider

CUSTOMER = "cus_01JD3K6ZQ8N0V5X2T9E4M7B1CA"


@pytest.fixture
def fake() -> StripeFake:
    return new_stripe_fake()


@pytest.fixture
def server(fake: StripeFake) -> Iterator[FakeServer]:
    with running(fake) as server:
        yield server


@pytest.fixture
async def provider(database: Database, server: FakeServer) -> AsyncIterator[StripeProvider]:
    provider = stripe_provider(database, server)
    yield provider
    await provider.aclose()


def _request(key: str, token: str, *, on_session: bool = False) -> ChargeRequest:
    return ChargeRequest(key, CUSTOMER, 1999, "EUR", token, "Invoice", on_session=on_session)


async def _charge(provider: StripeProvider, key: str, token: str, **kw: bool):  # type: ignore[no-untyped-def]
    await provider.store_method(customer_id=CUSTOMER, token=token, provider_customer=None)
    return await provider.charge(_request(key, token, **kw))


async def test_storing_a_method_creates_the_stripe_customer_once_and_reads_the_card(
    provider: StripeProvider, fake: StripeFake
) -> None:
    first = await provider.store_method(
        customer_id=CUSTOMER, token="pm_card_mastercard", provider_customer=None
    )
    second = await provider.store_method(
        customer_id=CUSTOMER, token="pm_card_visa", provider_customer=None
    )
    assert first.provider_customer == second.provider_customer
    assert first.provider_customer.startswith("cus_") and len(fake.customers) == 1
    assert (first.brand, first.last4, first.exp_month, first.exp_year) == (
        "mastercard", "4444", 12, 2034,
    )  # fmt: skip
    assert fake.methods["pm_card_visa"]["customer"] == first.provider_customer


async def test_a_method_of_another_stripe_customer_is_refused(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # A real PaymentMethod belongs to one customer (test-mode names like pm_card_visa do not:
    # Stripe makes a new PaymentMethod from them each time).
    token = "pm_1PgaftB7WZ01zgkWm3waTcFp"
    await provider.store_method(customer_id=CUSTOMER, token=token, provider_customer=None)
    with pytest.raises(InvalidRequest):
        await provider.store_method(
            customer_id="cus_01JD3K6ZQ8N0V5X2T9E4M7B1CB", token=token, provider_customer=None,
        )  # fmt: skip


async def test_an_off_session_renewal_is_a_confirmed_payment_intent_with_the_attempt_key(
    provider: StripeProvider, fake: StripeFake
) -> None:
    result = await _charge(provider, "in_1:attempt:1", "pm_card_visa")
    assert result.status is ChargeStatus.SUCCEEDED and result.charge_id
    intent = fake.intents[result.charge_id]
    assert intent["status"] == "succeeded" and intent["amount"] == 1999
    assert intent["currency"] == "eur"
    assert intent["metadata"]["tenure_idempotency_key"] == "in_1:attempt:1"
    posts = [r for r in fake.requests if r[1] == "/v1/payment_intents"]
    assert posts == [("POST", "/v1/payment_intents", "in_1:attempt:1")]
    # The same key again: Stripe's stored answer (or the journal's), never a second charge.
    again = await provider.charge(_request("in_1:attempt:1", "pm_card_visa"))
    assert again == result and len(fake.charges) == 1


@pytest.mark.parametrize(
    ("token", "code", "klass"),
    [
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", DeclineClass.SOFT),
        ("pm_card_decline_do_not_honor", "do_not_honor", DeclineClass.SOFT),
        ("pm_card_chargeDeclined", "generic_decline", DeclineClass.SOFT),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", DeclineClass.SOFT),
        ("pm_card_chargeDeclinedLostCard", "lost_card", DeclineClass.HARD),
        ("pm_card_chargeDeclinedStolenCard", "stolen_card", DeclineClass.HARD),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", DeclineClass.HARD),
        ("pm_card_chargeDeclinedFraudulent", "fraudulent", DeclineClass.HARD),
        ("pm_card_decline_invalid_account", "invalid_account", DeclineClass.HARD),
        ("pm_card_decline_revocation_of_authorization", "revocation_of_authorization",
         DeclineClass.HARD),
        ("pm_card_declined", "generic_decline", DeclineClass.HARD),  # advice: do_not_try_again
    ],
)  # fmt: skip
async def test_declines_are_classified(
    provider: StripeProvider, token: str, code: str, klass: DeclineClass
) -> None:
    result = await _charge(provider, f"k-{token}", token)
    assert result.status is ChargeStatus.DECLINED
    assert (result.decline_code, result.decline_class) == (code, klass)
    assert result.retryable is (klass is DeclineClass.SOFT)
    assert result.charge_id and result.charge_id.startswith("pi_")
    assert result.raw["decline_code"] == code and result.provider == "stripe"


async def test_authentication_off_session_is_an_action_required_decline(
    provider: StripeProvider,
) -> None:
    result = await _charge(provider, "k-sca", "pm_card_authenticationRequired")
    assert result.status is ChargeStatus.DECLINED
    assert result.decline_code == "authentication_required"
    assert result.decline_class is DeclineClass.ACTION_REQUIRED and not result.retryable
    assert result.next_action is not None and result.next_action.client_secret


async def test_authentication_on_session_hands_the_client_secret_over(
    provider: StripeProvider, fake: StripeFake
) -> None:
    result = await _charge(provider, "k-first", "pm_card_authenticationRequired", on_session=True)
    assert result.decline_class is DeclineClass.ACTION_REQUIRED
    action = result.next_action
    assert action is not None and action.type == "use_stripe_sdk"
    assert action.client_secret == fake.intents[action.reference]["client_secret"]
    assert "off_session" not in fake.replays["k-first"][0]


async def test_a_timeout_after_stripe_charged_is_resolved_by_lookup_not_a_second_charge(
    provider: StripeProvider, server: FakeServer, fake: StripeFake
) -> None:
    await provider.store_method(customer_id=CUSTOMER, token="pm_card_visa", provider_customer=None)
    fault(server, fault="timeout_after_charge", delay=HOLD)
    with pytest.raises(ProviderUnavailable):
        await provider.charge(_request("in_2:attempt:1", "pm_card_visa"))
    assert len(fake.charges) == 1  # Stripe charged; Tenure does not know yet
    found = await provider.lookup("in_2:attempt:1")
    assert found is not None and found.status is ChargeStatus.SUCCEEDED
    assert found.charge_id == fake.charges[0]["payment_intent"]
    # Recovery may still call charge with the same key: Stripe replays, nothing new is charged.
    assert (await provider.charge(_request("in_2:attempt:1", "pm_card_visa"))).charge_id == (
        found.charge_id
    )
    assert len(fake.charges) == 1
    assert await provider.lookup("never-sent") is None


@pytest.mark.parametrize(("kind", "retry_after"), [("server_error", None), ("rate_limit", 3.0)])
async def test_5xx_and_429_are_unknown_outcomes_and_the_same_key_then_charges_once(
    provider: StripeProvider, server: FakeServer, fake: StripeFake, kind: str,
    retry_after: float | None,
) -> None:  # fmt: skip
    await provider.store_method(customer_id=CUSTOMER, token="pm_card_visa", provider_customer=None)
    fault(server, fault=kind, retry_after=3)
    with pytest.raises(ProviderUnavailable) as error:
        await provider.charge(_request("in_3:attempt:1", "pm_card_visa"))
    assert error.value.retry_after == retry_after
    assert fake.charges == []
    assert await provider.lookup("in_3:attempt:1") is None  # nothing reached Stripe
    result = await provider.charge(_request("in_3:attempt:1", "pm_card_visa"))
    assert result.status is ChargeStatus.SUCCEEDED and len(fake.charges) == 1


async def test_a_wrong_key_is_no_decline(database: Database, server: FakeServer) -> None:
    from tenure.payments.providers.stripe_adapter import StripeConfig

    wrong = StripeProvider(database, StripeConfig("sk_test_wrong", api_base=server.url))
    with pytest.raises(ProviderUnavailable):
        await wrong.charge(_request("k-auth", "pm_card_visa"))
    await wrong.aclose()


async def test_refunds_full_partial_too_much_and_lookup(
    provider: StripeProvider, fake: StripeFake
) -> None:
    paid = await _charge(provider, "in_4:attempt:1", "pm_card_visa")
    assert paid.charge_id is not None
    part = await provider.refund(RefundRequest("cn_1", paid.charge_id, 999, "EUR", "goodwill"))
    assert part.succeeded and part.settled and part.refund_id in fake.refunds
    too_much = await provider.refund(RefundRequest("cn_2", paid.charge_id, 1001, "EUR", "x"))
    assert not too_much.succeeded
    rest = await provider.refund(RefundRequest("cn_3", paid.charge_id, 1000, "EUR", "rest"))
    assert rest.succeeded
    found = await provider.lookup_refund("cn_1")
    assert found is not None and found.refund_id == part.refund_id
    assert await provider.lookup_refund("cn_unknown") is None
    assert len(fake.refunds) == 2
