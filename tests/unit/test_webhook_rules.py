"""Signatures (Standard Webhooks test vectors), backoff, egress rules, status classification."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tenure.events.retry import BROKER, WEBHOOKS, RetryPolicy
from tenure.kernel.errors import InvalidRequest
from tenure.webhooks import signing
from tenure.webhooks.egress import check_url, forbidden
from tenure.webhooks.sender import classify

# W1: the published vector (standard-webhooks libraries/python/tests/test_webhooks.py).
W1_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
W1_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
W1_TIMESTAMP = 1614265330
W1_BODY = b'{"test": 2432232314}'
W1_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_w1_published_vector() -> None:
    assert signing.sign(W1_SECRET, W1_ID, W1_TIMESTAMP, W1_BODY) == W1_SIGNATURE
    # W7: the same secret without its prefix signs the same.
    assert signing.sign(W1_SECRET.removeprefix("whsec_"), W1_ID, W1_TIMESTAMP, W1_BODY) == (
        W1_SIGNATURE
    )


def test_w9_a_reserialised_body_does_not_verify() -> None:
    assert signing.sign(W1_SECRET, W1_ID, W1_TIMESTAMP, b'{"test":2432232314}') != W1_SIGNATURE


def test_our_headers_verify_with_the_standardwebhooks_package() -> None:
    secret = signing.new_secret()
    now = int(datetime.now(UTC).timestamp())
    body = b'{"id":"evt_1","type":"customer.created","data":{}}'
    headers = signing.headers("evt_1", now, body, [secret])
    assert Webhook(secret).verify(body, headers)["id"] == "evt_1"
    with pytest.raises(WebhookVerificationError):  # W3: one changed byte
        Webhook(secret).verify(body.replace(b"evt_1", b"evt_2"), headers)
    with pytest.raises(WebhookVerificationError):  # another endpoint's secret
        Webhook(signing.new_secret()).verify(body, headers)


def test_new_secrets_follow_the_spec() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert 24 <= len(signing.key_of(secret)) <= 64
    assert secret != signing.new_secret()


def test_backoff_grows_with_jitter_and_gives_up_after_about_three_days() -> None:
    rng = random.Random(1)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    at, failures, delays = start, 0, []
    while True:
        failures += 1
        nxt = WEBHOOKS.next_attempt(failures=failures, first_attempt_at=start, now=at, rng=rng)
        if nxt is None:
            break
        delays.append(nxt - at)
        at = nxt
    assert 7 <= failures <= 12
    assert delays[0] <= timedelta(seconds=5) and delays[1] > delays[0]
    assert max(delays) <= timedelta(hours=24)
    assert timedelta(days=2) < at - start <= timedelta(days=3)
    jittered = {WEBHOOKS.delay(3, random.Random(seed)) for seed in range(20)}
    assert len(jittered) > 10
    assert all(timedelta(seconds=62.5) <= d <= timedelta(seconds=125) for d in jittered)


def test_retry_after_is_honoured_up_to_the_cap_and_the_broker_never_gives_up() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    policy = RetryPolicy(horizon=None)
    waited = policy.next_attempt(
        failures=1, first_attempt_at=now, now=now, rng=random.Random(), at_least=timedelta(hours=1)
    )
    assert waited == now + timedelta(hours=1)
    late = now + timedelta(days=365)
    assert BROKER.next_attempt(failures=50, first_attempt_at=now, now=late, rng=random.Random())


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses_are_forbidden(address: str) -> None:
    assert forbidden(ipaddress.ip_address(address))


def test_public_addresses_are_allowed() -> None:
    assert not forbidden(ipaddress.ip_address("93.184.216.34"))
    assert not forbidden(ipaddress.ip_address("2606:4700::1111"))


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.example.com/x", "webhook_url_not_https"),
        ("https://127.0.0.1/x", "webhook_url_not_public"),
        ("https://[::1]/x", "webhook_url_not_public"),
        ("https://169.254.169.254/latest/meta-data", "webhook_url_not_public"),
        ("https://localhost/x", "webhook_url_not_public"),
        ("https://user:pw@hooks.example.com/x", "invalid_webhook_url"),
        ("ftp://hooks.example.com/x", "webhook_url_not_https"),
        ("https:///nohost", "invalid_webhook_url"),
        ("https://hooks.example.com/" + "x" * 2100, "invalid_webhook_url"),
    ],
)
def test_unsafe_urls_are_refused_in_production(url: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_url(url, allow_private=False)
    assert refused.value.code == code


def test_local_development_may_use_http_and_loopback() -> None:
    assert check_url("http://127.0.0.1:9000/hooks", allow_private=True).startswith("http://")
    assert check_url("https://hooks.example.com/x", allow_private=False)


@pytest.mark.parametrize(
    ("status", "ok", "gone", "error"),
    [
        (200, True, False, None),
        (204, True, False, None),
        (301, False, False, "HTTP 301: redirects are refused"),
        (410, False, True, "HTTP 410"),
        (500, False, False, "HTTP 500"),
    ],
)
def test_status_classification(status: int, ok: bool, gone: bool, error: str | None) -> None:
    attempt = classify(status, None)
    assert (attempt.ok, attempt.gone, attempt.error) == (ok, gone, error)


def test_throttling_statuses_carry_retry_after() -> None:
    assert classify(429, "120").retry_after == timedelta(seconds=120)
    assert classify(503, "7").retry_after == timedelta(seconds=7)
    assert classify(500, "120").retry_after is None
    assert classify(429, "Wed, 21 Oct 2015 07:28:00 GMT").retry_after is None
