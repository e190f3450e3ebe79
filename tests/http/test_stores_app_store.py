"""App Store Server Notifications through the HTTP API: each type and subtype, signed with a
test key chain shaped like Apple's, moves one subscription as docs/stores.md says."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support.stores import (
    ANNUAL,
    MONTHLY,
    STUDENT,
    T0,
    Stores,
    month,
)


async def _start(s: Stores, *, original: str = "1000") -> tuple[str, str]:
    customer = await s.api.customer(market="US")
    token = await s.account_token(customer)
    answer = await s.apple_ok(
        s.apple_notice(
            "SUBSCRIBED",
            "INITIAL_BUY",
            original=original,
            transaction=original,
            purchased=T0,
            expires=month(T0),
            signed=T0,
            token=token,
        )
    )
    assert answer["status"] == "processed", answer
    return customer, token


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


async def test_subscribe_renew_grace_hold_recover_cancel_refund_expire(stores: Stores) -> None:
    s = stores
    customer, token = await _start(s)
    sub = await s.subscription_of(customer, "app_store")
    assert sub["status"] == "active" and sub["plan"] == "premium_individual_monthly"
    assert sub["price"] == {"amount": 999, "currency": "USD"}
    assert sub["payment_method"] is None and sub["current_period_end"] == "2026-03-31T12:00:00Z"
    ent = await s.entitlements(customer)
    assert (ent["product"], ent["source"], ent["subscription"]) == (
        "premium_individual",
        "subscription",
        sub["id"],
    )

    def notice(kind: str, subtype: str | None, txn_id: str, start: Any, at: Any, **kw: Any) -> str:
        return s.apple_notice(
            kind, subtype, original="1000", transaction=txn_id, purchased=start,
            expires=month(start), signed=at, token=token, **kw,
        )  # fmt: skip

    # renew
    await s.apple_ok(notice("DID_RENEW", None, "1001", month(T0), month(T0)))
    sub = await s.subscription_of(customer, "app_store")
    assert sub["status"] == "active" and sub["current_period_end"] == "2026-04-30T12:00:00Z"
    # grace
    grace_end = month(T0, 2) + timedelta(days=16)
    renewal = s.apple.renewal(
        original="1000",
        product=MONTHLY,
        signed=month(T0, 2),
        gracePeriodExpiresDate=int(grace_end.timestamp() * 1000),
        isInBillingRetryPeriod=True,
    )
    await s.apple_ok(
        notice(
            "DID_FAIL_TO_RENEW", "GRACE_PERIOD", "1001", month(T0), month(T0, 2), renewal=renewal
        )
    )
    sub = await s.subscription_of(customer, "app_store")
    assert sub["status"] == "past_due"
    ent = await s.entitlements(customer)
    assert ent["product"] == "premium_individual" and ent["billing_issue"] is True
    assert ent["valid_until"] == "2026-05-16T12:00:00Z"
    # hold
    await s.apple_ok(notice("GRACE_PERIOD_EXPIRED", None, "1001", month(T0), grace_end))
    assert (await s.subscription_of(customer, "app_store"))["status"] == "on_hold"
    ent = await s.entitlements(customer)
    assert ent["product"] == "free" and ent["billing_issue"] is True
    # recovery: a new period from the recovery date
    recovered = grace_end + timedelta(days=2)
    await s.apple_ok(notice("DID_RENEW", "BILLING_RECOVERY", "1002", recovered, recovered))
    sub = await s.subscription_of(customer, "app_store")
    assert sub["status"] == "active"
    assert sub["current_period_start"] == "2026-05-18T12:00:00Z"
    assert (await s.entitlements(customer))["billing_issue"] is False
    # auto-renew off and on again: cancel at period end, reactivate
    off = recovered + timedelta(days=1)
    await s.apple_ok(
        notice("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED", "1002", recovered, off,
               auto_renew=False)
    )  # fmt: skip
    assert (await s.subscription_of(customer, "app_store"))["cancel_at_period_end"] is True
    on = off + timedelta(hours=1)
    await s.apple_ok(
        notice("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED", "1002", recovered, on)
    )
    assert (await s.subscription_of(customer, "app_store"))["cancel_at_period_end"] is False
    # refund of the current transaction: access ends now, the invoice is refunded
    refunded_at = on + timedelta(days=1)
    txn = s.apple.transaction(
        original="1000", transaction="1002", product=MONTHLY, purchased=recovered,
        expires=month(recovered), account_token=token, signed=refunded_at,
        revocationDate=int(refunded_at.timestamp() * 1000), revocationReason=0,
        revocationType="REFUND_FULL",
    )  # fmt: skip
    await s.apple_ok(notice("REFUND", None, "1002", recovered, refunded_at, txn=txn, status=5))
    sub = await s.subscription_of(customer, "app_store")
    assert (sub["status"], sub["ended_reason"]) == ("canceled", "refunded")
    assert (await s.entitlements(customer))["product"] == "free"
    invoices = await s.api.invoices(customer)
    assert [i["total"] for i in invoices] == [999, 999, 999]
    assert all(i["status"] == "paid" for i in invoices)
    assert [i["amount_refunded"] for i in invoices] == [0, 0, 999]
    # the refund reversed: access back
    reversed_at = refunded_at + timedelta(days=3)
    await s.apple_ok(notice("REFUND_REVERSED", None, "1002", recovered, reversed_at))
    sub = await s.subscription_of(customer, "app_store")
    assert sub["status"] == "active" and sub["ended_at"] is None
    assert [i["amount_refunded"] for i in await s.api.invoices(customer)] == [0, 0, 0]
    # expiry (voluntary)
    end = month(recovered)
    await s.apple_ok(notice("EXPIRED", "VOLUNTARY", "1002", recovered, end, auto_renew=False))
    sub = await s.subscription_of(customer, "app_store")
    assert (sub["status"], sub["ended_reason"]) == ("expired", "canceled")
    assert (await s.entitlements(customer))["product"] == "free"

    history = await s.history(sub["id"])
    assert [(h["from"], h["to"], h["action"]) for h in history] == [
        (None, "incomplete", "created"),
        ("incomplete", "active", "first_payment_succeeded"),
        ("active", "active", "renewed"),
        ("active", "past_due", "payment_failed"),
        ("past_due", "on_hold", "grace_expired"),
        ("on_hold", "active", "payment_recovered"),
        ("active", "active", "schedule_cancel"),
        ("active", "active", "reactivate"),
        ("active", "canceled", "revoke"),
        ("canceled", "active", "reinstate"),
        ("active", "expired", "period_ended_canceled"),
    ]
    assert {h["actor"] for h in history} == {"store:app_store"}
    events = await s.api.events(subscription=sub["id"])
    assert _types(events) == [
        "subscription.created",
        "invoice.created",
        "invoice.paid",
        "subscription.activated",
        "invoice.created",
        "invoice.paid",
        "subscription.renewed",
        "subscription.past_due",
        "subscription.on_hold",
        "invoice.created",
        "invoice.paid",
        "subscription.recovered",
        "subscription.canceled",
        "subscription.reactivated",
        "invoice.refunded",
        "subscription.canceled",
        "invoice.refund_reversed",
        "subscription.reinstated",
        "subscription.expired",
    ]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert all(
        e["data"]["channel"] == "app_store" for e in events if e["type"].startswith("subscription.")
    )


@pytest.mark.parametrize(
    ("subtype", "reason"),
    [
        ("VOLUNTARY", "canceled"),
        ("BILLING_RETRY", "billing_retry"),
        ("PRICE_INCREASE", "price_increase_declined"),
        ("PRODUCT_NOT_FOR_SALE", "product_not_for_sale"),
    ],
)
async def test_every_expired_subtype_ends_with_its_reason(
    stores: Stores, subtype: str, reason: str
) -> None:
    customer, token = await _start(stores)
    await stores.apple_ok(
        stores.apple_notice(
            "EXPIRED", subtype, original="1000", transaction="1000", purchased=T0,
            expires=month(T0), signed=month(T0), token=token, auto_renew=False, status=2,
        )
    )  # fmt: skip
    sub = await stores.subscription_of(customer, "app_store")
    assert (sub["status"], sub["ended_reason"]) == ("expired", reason)
    actions = [h["action"] for h in await stores.history(sub["id"])]
    # billing retry ran out: through a hold (no access), as a web subscription's dunning
    expected = (
        ["hold", "dunning_exhausted"] if subtype == "BILLING_RETRY" else ["period_ended_canceled"]
    )
    assert actions[2:] == expected


async def test_fail_to_renew_without_grace_holds_then_expires(stores: Stores) -> None:
    customer, token = await _start(stores)
    await stores.apple_ok(
        stores.apple_notice(
            "DID_FAIL_TO_RENEW", None, original="1000", transaction="1000", purchased=T0,
            expires=month(T0), signed=month(T0), token=token, status=3,
        )
    )  # fmt: skip
    sub = await stores.subscription_of(customer, "app_store")
    assert sub["status"] == "on_hold"
    assert (await stores.entitlements(customer))["product"] == "free"


async def test_renewal_preference_downgrade_then_back_then_upgrade(stores: Stores) -> None:
    s = stores
    customer, token = await _start(s)

    def pref(subtype: str | None, at: Any, renewal_product: str, **kw: Any) -> str:
        return s.apple_notice(
            "DID_CHANGE_RENEWAL_PREF", subtype, original="1000", transaction="1000",
            purchased=T0, expires=month(T0), signed=at, token=token,
            renewal_product=renewal_product, **kw,
        )  # fmt: skip

    await s.apple_ok(pref("DOWNGRADE", T0 + timedelta(days=2), STUDENT))
    sub = await s.subscription_of(customer, "app_store")
    assert sub["pending_change"] == {
        "plan": "premium_student_monthly",
        "effective_at": "2026-03-31T12:00:00Z",
    }
    await s.apple_ok(pref(None, T0 + timedelta(days=3), MONTHLY))
    assert (await s.subscription_of(customer, "app_store"))["pending_change"] is None
    upgraded = T0 + timedelta(days=4)
    await s.apple_ok(
        s.apple_notice(
            "DID_CHANGE_RENEWAL_PREF", "UPGRADE", original="1000", transaction="1001",
            product=ANNUAL, purchased=upgraded, expires=upgraded + timedelta(days=365),
            signed=upgraded, token=token,
        )
    )  # fmt: skip
    sub = await s.subscription_of(customer, "app_store")
    assert sub["plan"] == "premium_individual_annual"
    assert sub["current_period_start"] == "2026-03-05T12:00:00Z"
    invoices = await s.api.invoices(customer)
    assert [(i["billing_reason"], i["total"]) for i in invoices] == [
        ("subscription_create", 999),
        ("subscription_update", 999),  # the upgrade's own charge, inside the new period
    ]
    events = _types(await s.api.events(subscription=sub["id"]))
    assert "subscription.plan_change_scheduled" in events
    assert "subscription.plan_change_canceled" in events
    assert "subscription.plan_changed" in events


async def test_offer_price_increase_extension_and_family_revoke(stores: Stores) -> None:
    s = stores
    customer, token = await _start(s)

    def notice(kind: str, subtype: str | None, at: Any, **kw: Any) -> str:
        return s.apple_notice(
            kind, subtype, original="1000", transaction=kw.pop("txn_id", "1000"),
            purchased=kw.pop("purchased", T0), expires=kw.pop("expires", month(T0)),
            signed=at, token=token, **kw,
        )  # fmt: skip

    answer = await s.apple_ok(notice("OFFER_REDEEMED", None, T0 + timedelta(days=1)))
    assert answer["status"] == "processed"
    renewal = s.apple.renewal(
        original="1000", product=MONTHLY, signed=T0 + timedelta(days=2),
        renewalPrice=12990, currency="USD", priceIncreaseStatus=0,
    )  # fmt: skip
    await s.apple_ok(notice("PRICE_INCREASE", "PENDING", T0 + timedelta(days=2), renewal=renewal))
    await s.apple_ok(notice("PRICE_INCREASE", "ACCEPTED", T0 + timedelta(days=3)))
    await s.apple_ok(
        notice(
            "RENEWAL_EXTENDED", None, T0 + timedelta(days=4), expires=month(T0) + timedelta(days=7)
        )
    )
    sub = await s.subscription_of(customer, "app_store")
    assert sub["current_period_end"] == "2026-04-07T12:00:00Z"
    events = await s.api.events(subscription=sub["id"])
    increase = [e for e in events if e["type"] == "subscription.price_increase"]
    assert [e["data"]["consent"] for e in increase] == ["pending", "accepted"]
    assert increase[0]["data"]["new_price"] == {"amount": 1299, "currency": "USD"}
    notes = [h["action"] for h in await s.history(sub["id"])]
    assert {"offer_redeemed", "price_increase_pending", "price_increase_accepted"} <= set(notes)
    assert "renewal_extended" in notes
    await s.apple_ok(notice("REVOKE", None, T0 + timedelta(days=5), status=5))
    sub = await s.subscription_of(customer, "app_store")
    assert (sub["status"], sub["ended_reason"]) == ("canceled", "family_sharing_revoked")


async def test_free_trial_converts_and_resubscribe_starts_a_new_subscription(
    stores: Stores,
) -> None:
    s = stores
    customer = await s.api.customer(market="US")
    token = await s.account_token(customer)
    txn = s.apple.transaction(
        original="2000", transaction="2000", product=MONTHLY, purchased=T0,
        expires=T0 + timedelta(days=7), account_token=token, price=0, offerType=1,
        offerDiscountType="FREE_TRIAL",
    )  # fmt: skip
    await s.apple_ok(
        s.apple_notice("SUBSCRIBED", "INITIAL_BUY", original="2000", transaction="2000",
                       purchased=T0, expires=T0 + timedelta(days=7), signed=T0, token=token,
                       txn=txn)
    )  # fmt: skip
    sub = await s.subscription_of(customer, "app_store")
    assert sub["status"] == "trialing" and sub["trial_end"] == "2026-03-08T12:00:00Z"
    assert (await s.entitlements(customer))["product"] == "premium_individual"
    assert await s.api.invoices(customer) == []
    converted = T0 + timedelta(days=7)
    await s.apple_ok(
        s.apple_notice("DID_RENEW", None, original="2000", transaction="2001",
                       purchased=converted, expires=month(converted), signed=converted,
                       token=token)
    )  # fmt: skip
    sub = await s.subscription_of(customer, "app_store")
    assert sub["status"] == "active"
    assert [i["billing_reason"] for i in await s.api.invoices(customer)] == ["trial_end"]
    ended = month(converted)
    await s.apple_ok(
        s.apple_notice("EXPIRED", "VOLUNTARY", original="2000", transaction="2001",
                       purchased=converted, expires=ended, signed=ended, token=token,
                       auto_renew=False)
    )  # fmt: skip
    back = ended + timedelta(days=10)
    await s.apple_ok(
        s.apple_notice("SUBSCRIBED", "RESUBSCRIBE", original="2000", transaction="2002",
                       purchased=back, expires=month(back), signed=back, token=token)
    )  # fmt: skip
    listed = (await s.api.ok("GET", "/v1/subscriptions", customer=customer))["data"]
    assert [x["status"] for x in listed] == ["expired", "active"]
    assert (await s.entitlements(customer))["subscription"] == listed[1]["id"]
