"""The provider rate limiter (a token bucket on wall time) and the billing-issue guard."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tenure.flows.guards import SubscriptionHasBillingIssue, ensure_no_billing_issue
from tenure.payments.methods import looks_like_card_number
from tenure.payments.ports import ChargeRequest, ChargeResult, ChargeStatus
from tenure.payments.ratelimit import RateLimitedProvider, TokenBucket, limited
from tenure.subscriptions.record import Sub
from tenure.subscriptions.state import DUNNING_STATUSES, Status


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_a_spike_queues_at_the_configured_rate() -> None:
    time = FakeTime()
    bucket = TokenBucket(5, burst=1, monotonic=time.monotonic, sleep=time.sleep)
    for _ in range(11):
        await bucket.acquire()
    assert time.now == pytest.approx(2.0)  # 10 waits of 0.2 s after the first free call


async def test_a_burst_is_served_at_once_then_the_rate_applies() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, burst=10, monotonic=time.monotonic, sleep=time.sleep)
    for _ in range(10):
        await bucket.acquire()
    assert time.now == 0.0
    await bucket.acquire()
    assert time.now == pytest.approx(0.1)


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def accepts(self, payment_method: str) -> bool:
        return True

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        self.calls.append(request.idempotency_key)
        return ChargeResult(ChargeStatus.SUCCEEDED, charge_id="ch_1")

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        self.calls.append(f"lookup {idempotency_key}")
        return None


async def test_the_limited_provider_passes_calls_through_and_no_rate_means_no_wrapper() -> None:
    inner = Recorder()
    assert limited(inner, 0) is inner
    assert limited(inner, None) is inner
    wrapped = limited(inner, 1000)
    assert isinstance(wrapped, RateLimitedProvider)
    request = ChargeRequest("in_1:attempt:1", "cus_1", 100, "SEK", "pm_card_visa", "x")
    assert (await wrapped.charge(request)).status is ChargeStatus.SUCCEEDED
    assert await wrapped.lookup("in_1:attempt:1") is None
    assert inner.calls == ["in_1:attempt:1", "lookup in_1:attempt:1"]
    with pytest.raises(ValueError):
        TokenBucket(0)


def _sub(status: Status) -> Sub:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    return Sub(
        id="sub_1", customer_id="cus_1", test_clock_id=None, market="SE", region=None,
        plan_id="premium_individual_monthly", product_id="premium_individual",
        price_amount=12900, currency="SEK", intro_price=None, intro_periods_remaining=0,
        status=status.value, billing_anchor=at,
        current_period_start=at, current_period_end=at, trial_start=None, trial_end=None,
        trial_notice_sent=False, canceled_at=None, ended_at=None,
        ended_reason=None, incomplete_expires_at=None, grace_ends_at=None,
        payment_method="pm_card_visa", next_action_at=None, event_seq=0, created_at=at,
        updated_at=at,
    )  # fmt: skip


@pytest.mark.parametrize("status", list(Status))
def test_plan_changes_are_refused_exactly_while_a_renewal_is_unpaid(status: Status) -> None:
    if status in DUNNING_STATUSES:
        with pytest.raises(SubscriptionHasBillingIssue) as info:
            ensure_no_billing_issue(_sub(status))
        assert info.value.code == "subscription_has_billing_issue"
        assert info.value.http_status == 409
        assert info.value.extra == {"subscription": "sub_1", "subscription_status": status.value}
    else:
        ensure_no_billing_issue(_sub(status))


@pytest.mark.parametrize(
    ("text", "card"),
    [
        ("4242424242424242", True),
        ("4242424242424241", True),  # Luhn-invalid still refused
        ("4242 4242 4242 4242", True),
        ("4242-4242-4242-4242", True),
        ("4222222222222", True),  # 13
        ("6011000990139424123", True),  # 19
        ('{"x": "pan 5555555555554444 here"}', True),
        ("424242424242", False),  # 12
        ("42424242424242424242", False),  # 20 digits: not a card number
        ("pm_card_visa", False),
        ("2025-01-31T10:00:00Z", False),
        ("cus_01JD3K6ZQ8N0V5X2T9E4M7B1CA", False),
    ],
)
def test_card_number_shapes(text: str, card: bool) -> None:
    assert looks_like_card_number(text) is card
