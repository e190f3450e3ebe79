"""Apple's own signed vectors through Tenure's verifier, and the pure store rules."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tenure.billing.records import (
    BillingReason,
    InvoiceRecord,
    InvoiceStatus,
    record_refund,
    reverse_refund,
    take_cash,
)
from tenure.store_settings import StoreConfigError, StoreSettings
from tenure.stores import lifecycle
from tenure.stores.app_store import AppStoreVerifier, VerificationRefused
from tenure.stores.facts import Happened, from_milliunits, from_units_nanos
from tenure.stores.google_play import MalformedPush, facts_of_purchase, parse_push
from tenure.subscriptions.state import TERMINAL_STATUSES, Action, Status, transition

VECTORS = Path(__file__).parents[1] / "fixtures" / "apple"


def _vector(name: str) -> str:
    return (VECTORS / "mock_signed_data" / name).read_text().strip()


def _verifier(
    environment: str = "Sandbox", bundle: str = "com.example", app_id: int = 1234
) -> AppStoreVerifier:
    settings = StoreSettings(
        app_store_bundle_id=bundle,
        app_store_app_apple_id=app_id,
        app_store_environment=environment,
        app_store_root_certificates=(str(VECTORS / "certs" / "testCA.der"),),
        app_store_online_checks=False,
    )
    # As in Apple's own tests: their test certificates carry no key identifiers.
    return AppStoreVerifier(settings, strict_chain=False)


def test_apples_test_notification_verifies() -> None:
    notice = _verifier().notice(_vector("testNotification"))
    assert notice.type == "TEST"
    assert notice.notification_uuid == "9ad56bd2-0bc6-42e0-af24-fd996d87a1e6"
    assert notice.signed_date == 1681314324000
    assert notice.environment == "Sandbox"


def test_apples_signed_transaction_and_renewal_info_verify() -> None:
    verifier = _verifier()
    txn = verifier.transaction(_vector("transactionInfo"))
    renewal = verifier.renewal(_vector("renewalInfo"))
    assert txn.signed_date == 1672956154000
    assert renewal.signed_date == 1672956154000


@pytest.mark.parametrize(
    ("vector", "bundle", "environment", "app_id", "status"),
    [
        ("wrongBundleId", "com.examplex", "Sandbox", 1234, "INVALID_APP_IDENTIFIER"),
        ("missingX5CHeaderClaim", "com.example", "Sandbox", 1234, "VERIFICATION_FAILURE"),
        ("testNotification", "com.example", "Production", 1234, "INVALID_ENVIRONMENT"),
        ("testNotification", "com.example", "Production", 1235, "INVALID_APP_IDENTIFIER"),
        ("testNotification", "com.example.other", "Sandbox", 1234, "INVALID_APP_IDENTIFIER"),
    ],
)
def test_apples_vectors_are_refused_where_they_must_be(
    vector: str, bundle: str, environment: str, app_id: int, status: str
) -> None:
    with pytest.raises(VerificationRefused) as refused:
        _verifier(environment, bundle, app_id).notice(_vector(vector))
    assert refused.value.status == status


def test_garbage_is_refused() -> None:
    for payload in ("a.b.c", "a.b.c.d", ""):
        with pytest.raises(VerificationRefused):
            _verifier().notice(payload)


def test_production_needs_apples_roots_and_the_app_id() -> None:
    with pytest.raises(StoreConfigError, match="TENURE_APP_STORE_ROOT_CERTIFICATES"):
        AppStoreVerifier(StoreSettings(app_store_bundle_id="b", app_store_app_apple_id=1))
    with pytest.raises(StoreConfigError, match="TENURE_APP_STORE_APP_APPLE_ID"):
        AppStoreVerifier(StoreSettings(app_store_bundle_id="b"))
    with pytest.raises(StoreConfigError, match="TENURE_APP_STORE_ALLOW_UNVERIFIED"):
        AppStoreVerifier(
            StoreSettings(app_store_bundle_id="b", app_store_environment="LocalTesting")
        )
    with pytest.raises(StoreConfigError):
        StoreSettings(app_store_environment="Staging")


def test_store_prices_become_minor_units_exactly() -> None:
    assert from_milliunits(10990, "USD") == 1099  # Apple's vector: 10.99 USD
    assert from_milliunits(1200000, "JPY") == 1200
    assert from_milliunits(3500, "KWD") == 3500
    assert from_milliunits(10995, "USD") == 1100  # half up
    assert from_units_nanos(9, 990_000_000, "USD") == 999
    assert from_units_nanos(1200, 0, "JPY") == 1200


LIVE = [s for s in Status if s not in TERMINAL_STATUSES]


@pytest.mark.parametrize(("current", "target"), list(itertools.product(Status, Status)))
def test_every_path_is_legal_and_never_goes_backwards(current: Status, target: Status) -> None:
    for happened in (Happened.SYNCED, Happened.REFUND_REVERSED, Happened.GRACE_EXPIRED):
        for reason in (None, "billing_retry"):
            status = current
            for action in lifecycle.path(current, target, happened, reason=reason):
                status = transition(status, action)  # raises if illegal
            assert len(lifecycle.path(current, target, happened, reason=reason)) <= 3
            if current is Status.ON_HOLD and target is Status.PAST_DUE:
                assert status is Status.ON_HOLD  # the hold began: grace is behind it
            if current in TERMINAL_STATUSES and happened is not Happened.REFUND_REVERSED:
                assert status is current  # an end is left only by a reversed refund


def test_paths_take_the_reported_way() -> None:
    S, A, H = Status, Action, Happened
    assert lifecycle.path(S.PAST_DUE, S.ON_HOLD, H.GRACE_EXPIRED) == [A.GRACE_EXPIRED]
    assert lifecycle.path(S.ACTIVE, S.ON_HOLD, H.RENEWAL_FAILED) == [A.HOLD]
    assert lifecycle.path(S.ACTIVE, S.EXPIRED, H.EXPIRED, reason="billing_retry") == [
        A.HOLD,
        A.DUNNING_EXHAUSTED,
    ]
    assert lifecycle.path(S.PAUSED, S.ACTIVE, H.RENEWED) == [A.RESUME]
    assert lifecycle.path(S.CANCELED, S.ACTIVE, H.REFUND_REVERSED) == [A.REINSTATE]
    assert lifecycle.needs_new_subscription(S.EXPIRED, S.ACTIVE, H.RESUBSCRIBED)
    assert not lifecycle.needs_new_subscription(S.CANCELED, S.ACTIVE, H.REFUND_REVERSED)


def test_a_reversed_refund_counts_the_cash_again() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    invoice = InvoiceRecord(
        id="in_1", customer_id="cus_1", subscription_id="sub_1", status=InvoiceStatus.OPEN,
        billing_reason=BillingReason.SUBSCRIPTION_CYCLE, currency="USD", period_start=at,
        period_end=at, subtotal=999, tax=0, total=999, tax_inclusive=True, tax_rate="0",
        tax_name="store", created_at=at,
    )  # fmt: skip
    take_cash(invoice, 999, at=at)
    record_refund(invoice, 999)
    assert invoice.amount_refunded == 999
    reverse_refund(invoice, 999)
    assert invoice.amount_refunded == 0 and invoice.amount_paid == 999
    with pytest.raises(ValueError):
        reverse_refund(invoice, 1)


def test_google_pushes_and_purchases() -> None:
    with pytest.raises(MalformedPush):
        parse_push(b'{"message": {"data": "eyAidmVyc2lvbiI6IHN0cmluZyB9", "messageId": "1"}}')
    with pytest.raises(MalformedPush):
        parse_push(b"not json")
    ignored = facts_of_purchase(
        {"subscriptionState": "SUBSCRIPTION_STATE_UNSPECIFIED"},
        store_key="k",
        notification_type=4,
        as_of=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert isinstance(ignored, str)
