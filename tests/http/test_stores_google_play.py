"""Google Play RTDN pushes through the HTTP API, with the Play Developer API faked: every
``subscriptionState``, linked purchase tokens, voided purchases, acknowledgement, push auth."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tenure.storefakes.apple import ms
from tenure.storefakes.google import purchase, push_body
from tests.support.stores import (
    AUDIENCE,
    PUSH_TOKEN,
    T0,
    Stores,
    month,
)

ISO = "%Y-%m-%dT%H:%M:%S.000Z"


def iso(value: Any) -> str:
    return str(value.strftime(ISO))


async def _buy(s: Stores, token: str = "tok-1", **kw: Any) -> str:
    customer = await s.api.customer(market="US")
    s.fakes.play.put(
        token,
        purchase(
            state=kw.pop("state", "ACTIVE"),
            start=iso(T0),
            expiry=iso(month(T0)),
            order=kw.pop("order", "GPA.1111-2222-3333-44444"),
            account=customer,
            **kw,
        ),
    )
    answer = await s.google_ok(token, 4, at=T0)
    assert answer["status"] == "processed", answer
    return customer


async def test_every_subscription_state_moves_the_subscription(
    stores: Stores, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    s = stores
    play = s.fakes.play
    customer = await _buy(s)
    sub = await s.subscription_of(customer, "google_play")
    assert (sub["status"], sub["plan"]) == ("active", "premium_individual_monthly")
    assert sub["price"] == {"amount": 999, "currency": "USD"}
    assert play.acknowledged == ["tok-1"]  # acknowledged after commit, within the window
    store = (await s.api.ok("GET", "/v1/stores/notifications", channel="google_play"))["data"]
    assert [n["status"] for n in store] == ["processed"]

    steps = [
        # (notificationType, state, expiry, order, extra, expected status, entitled)
        (2, "ACTIVE", month(T0, 2), "GPA.1111-2222-3333-44444..0", {}, "active", True),
        (6, "IN_GRACE_PERIOD", month(T0, 2) + timedelta(days=7), None, {}, "past_due", True),
        (5, "ON_HOLD", month(T0, 2), None, {}, "on_hold", False),
        (1, "ACTIVE", month(T0, 3), "GPA.1111-2222-3333-44444..1", {}, "active", True),
        (10, "PAUSED", month(T0, 3), None, {}, "paused", False),
        (2, "ACTIVE", month(T0, 4), "GPA.1111-2222-3333-44444..2", {}, "active", True),
        (3, "CANCELED", month(T0, 4), None, {"auto_renew": False}, "active", True),
        (7, "ACTIVE", month(T0, 4), None, {}, "active", True),
    ]
    at = T0
    for kind, state, expiry, order, extra, expected, entitled in steps:
        at = at + timedelta(days=20)
        play.put(
            "tok-1",
            purchase(
                state=state, start=iso(T0), expiry=iso(expiry), order=order, account=customer,
                acknowledged=True, **extra,
            ),
        )  # fmt: skip
        await s.google_ok("tok-1", kind, at=at)
        sub = await s.subscription_of(customer, "google_play")
        assert sub["status"] == expected, (kind, state, sub)
        product = (await s.entitlements(customer))["product"]
        assert (product == "premium_individual") is entitled, (kind, state, product)
        if kind == 3:
            assert sub["cancel_at_period_end"] is True
        if kind == 7:
            assert sub["cancel_at_period_end"] is False
    play.put(
        "tok-1",
        purchase(state="EXPIRED", start=iso(T0), expiry=iso(month(T0, 4)), order=None,
                 account=customer, acknowledged=True, canceled="userInitiatedCancellation"),
    )  # fmt: skip
    await s.google_ok("tok-1", 13, at=at + timedelta(days=1))
    sub = await s.subscription_of(customer, "google_play")
    assert (sub["status"], sub["ended_reason"]) == ("expired", "canceled")
    actions = [h["action"] for h in await s.history(sub["id"])]
    assert actions == [
        "created",
        "first_payment_succeeded",
        "renewed",
        "payment_failed",
        "hold",
        "payment_recovered",
        "pause",
        "resume",
        "schedule_cancel",
        "reactivate",
        "period_ended_canceled",
    ]
    invoices = await s.api.invoices(customer)
    assert len(invoices) == 4 and {i["total"] for i in invoices} == {999}
    logged = capsys.readouterr()
    assert "tok-1" not in logged.out + logged.err + caplog.text  # tokens never reach a log


async def test_pending_purchase_then_canceled(stores: Stores) -> None:
    s = stores
    customer = await s.api.customer(market="US")
    s.fakes.play.put(
        "tok-p", purchase(state="PENDING", start=iso(T0), expiry=iso(month(T0)), order=None,
                          account=customer),
    )  # fmt: skip
    await s.google_ok("tok-p", 4, at=T0)
    sub = await s.subscription_of(customer, "google_play")
    assert sub["status"] == "incomplete"
    assert (await s.entitlements(customer))["product"] == "free"
    s.fakes.play.put(
        "tok-p", purchase(state="PENDING_PURCHASE_CANCELED", start=iso(T0),
                          expiry=iso(month(T0)), order=None, account=customer),
    )  # fmt: skip
    await s.google_ok("tok-p", 20, at=T0 + timedelta(days=1))
    sub = await s.subscription_of(customer, "google_play")
    assert (sub["status"], sub["ended_reason"]) == (
        "incomplete_expired",
        "pending_purchase_canceled",
    )
    assert await s.api.invoices(customer) == []
    assert s.fakes.play.acknowledged == []  # nothing was paid: nothing to acknowledge


async def test_linked_token_continues_one_subscription_and_the_old_token_changes_nothing(
    stores: Stores,
) -> None:
    s = stores
    customer = await _buy(s, "tok-old")
    first = await s.subscription_of(customer, "google_play")
    upgraded = T0 + timedelta(days=5)
    s.fakes.play.put(
        "tok-new",
        purchase(state="ACTIVE", product="premium_family", start=iso(upgraded),
                 expiry=iso(month(upgraded)), order="GPA.9999-0000-1111-22222",
                 account=customer, linked="tok-old", price_units="14"),
    )  # fmt: skip
    await s.google_ok("tok-new", 4, at=upgraded)
    listed = (await s.api.ok("GET", "/v1/subscriptions", customer=customer))["data"]
    assert len(listed) == 1 and listed[0]["id"] == first["id"]
    assert listed[0]["plan"] == "premium_family_monthly"
    # Google ends the replaced token: its EXPIRED notification must not end the subscription.
    s.fakes.play.put(
        "tok-old",
        purchase(state="EXPIRED", start=iso(T0), expiry=iso(upgraded), order=None,
                 account=customer, acknowledged=True, canceled="replacementCancellation"),
    )  # fmt: skip
    answer = await s.google_ok("tok-old", 13, at=upgraded + timedelta(minutes=1))
    assert answer["status"] == "stale"
    sub = await s.subscription_of(customer, "google_play")
    assert sub["status"] == "active" and sub["plan"] == "premium_family_monthly"
    assert (await s.entitlements(customer))["product"] == "premium_family"
    assert sorted(s.fakes.play.acknowledged) == ["tok-new", "tok-old"]


async def test_voided_purchase_refunds_the_order_and_revokes(stores: Stores) -> None:
    s = stores
    customer = await _buy(s, "tok-v")
    s.fakes.play.put(
        "tok-v",
        purchase(state="EXPIRED", start=iso(T0), expiry=iso(T0 + timedelta(days=3)),
                 order=None, account=customer, acknowledged=True),
    )  # fmt: skip
    body = push_body(
        message_id="void-1",
        package=s.fakes.play.package,
        event_ms=ms(T0 + timedelta(days=3)),
        token="tok-v",
        voided_order="GPA.1111-2222-3333-44444",
    )
    response = await s.post_google(body, oidc=s.fakes.play.push_token(AUDIENCE))
    assert response.status_code == 200 and response.json()["status"] == "processed"
    sub = await s.subscription_of(customer, "google_play")
    assert (sub["status"], sub["ended_reason"]) == ("canceled", "refunded")
    assert (await s.entitlements(customer))["product"] == "free"
    await s.google_ok("tok-v", 12, at=T0 + timedelta(days=3, minutes=1))  # REVOKED: already so
    sub = await s.subscription_of(customer, "google_play")
    assert (sub["status"], sub["ended_reason"]) == ("canceled", "refunded")
    (invoice,) = await s.api.invoices(customer)
    assert invoice["amount_refunded"] == 999


async def test_push_authentication(stores: Stores) -> None:
    s = stores
    customer = await s.api.customer(market="US")
    s.fakes.play.put(
        "tok-a", purchase(state="ACTIVE", start=iso(T0), expiry=iso(month(T0)),
                          order="GPA.1", account=customer),
    )  # fmt: skip
    body = push_body(
        message_id="auth-1", package=s.fakes.play.package, event_ms=ms(T0),
        notification_type=4, token="tok-a",
    )  # fmt: skip
    refused = [
        await s.post_google(body),  # no authentication at all
        await s.post_google(body, oidc=s.fakes.play.push_token("https://elsewhere.example")),
        await s.post_google(body, oidc=s.fakes.play.push_token(AUDIENCE, email="x@evil.example")),
        await s.post_google(body, oidc=s.fakes.play.push_token(AUDIENCE, expires_in=-60)),
        await s.post_google(body, token="wrong-token"),
        await s.post_google(
            push_body(
                message_id="auth-2",
                package="com.other.app",
                event_ms=ms(T0),
                notification_type=4,
                token="tok-a",
            ),
            token=PUSH_TOKEN,
        ),
    ]
    for response in refused:
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_signature"
    assert (await s.api.ok("GET", "/v1/stores/notifications"))["data"] == []
    assert (await s.api.ok("GET", "/v1/subscriptions", customer=customer))["data"] == []
    # Google's documented sample is a schema, not JSON: a clean 400.
    sample = b'{"message": {"data": "eyAidmVyc2lvbiI6IHN0cmluZyB9", "messageId": "1"}}'
    malformed = await s.post_google(sample, token=PUSH_TOKEN)
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed_notification"
    ok = await s.post_google(body, token=PUSH_TOKEN)  # the shared token, for local use
    assert ok.status_code == 200 and ok.json()["status"] == "processed"
    again = await s.post_google(body, oidc=s.fakes.play.push_token(AUDIENCE))
    assert again.json()["duplicate"] is True
    unknown = push_body(
        message_id="auth-3", package=s.fakes.play.package, event_ms=ms(T0 + timedelta(hours=1)),
        notification_type=99, token="tok-a",
    )  # fmt: skip
    answer = await s.post_google(unknown, token=PUSH_TOKEN)
    assert answer.status_code == 200 and answer.json()["status"] == "processed"


async def test_a_revoked_access_token_is_replaced_and_the_call_retried(stores: Stores) -> None:
    s = stores
    customer = await _buy(s, "tok-r")
    # Google stops accepting the cached access token long before it expires (revoked, or the
    # fake API restarted): the next notification still gets the purchase, with a new token.
    s.fakes.play.revoke_access_tokens()
    s.fakes.play.put(
        "tok-r",
        purchase(state="IN_GRACE_PERIOD", start=iso(T0), expiry=iso(month(T0)),
                 order="GPA.1111-2222-3333-44444", account=customer, acknowledged=True),
    )  # fmt: skip
    answer = await s.google_ok("tok-r", 6, at=month(T0))
    assert answer["status"] == "processed", answer
    assert (await s.subscription_of(customer, "google_play"))["status"] == "past_due"


async def test_a_notification_processed_after_a_reconciliation_is_not_stale(
    stores: Stores,
) -> None:
    s = stores
    customer = await _buy(s, "tok-late")
    # The worker's missed-notification check (or an operator) reconciles now, long after T0;
    # a notification sent before that but processed after it fetches an even newer state,
    # which must apply: Play notifications carry no state of their own.
    await s.api.ok("POST", "/v1/stores/google_play/reconcile", {"purchase_token": "tok-late"})
    s.fakes.play.put(
        "tok-late",
        purchase(state="ON_HOLD", start=iso(T0), expiry=iso(month(T0)),
                 order="GPA.1111-2222-3333-44444", account=customer, acknowledged=True),
    )  # fmt: skip
    answer = await s.google_ok("tok-late", 5, at=month(T0))
    assert answer["status"] == "processed", answer
    assert (await s.subscription_of(customer, "google_play"))["status"] == "on_hold"
    assert (await s.entitlements(customer))["product"] == "free"
