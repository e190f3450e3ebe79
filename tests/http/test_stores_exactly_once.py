"""Store notifications exactly once, verification, reconciliation, and one lifecycle beside
the web: duplicates and replays change nothing, stale reports never move a subscription
backwards, a refused notification stores nothing, a missed one is recovered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tenure.storefakes.apple import ms
from tests.support.stores import (
    MONTHLY,
    T0,
    Stores,
    month,
)


async def _customer(s: Stores) -> tuple[str, str]:
    customer = await s.api.customer(market="US")
    return customer, await s.account_token(customer)


def _subscribed(s: Stores, token: str | None, *, original: str = "5000", **kw: Any) -> str:
    return s.apple_notice(
        "SUBSCRIBED", "INITIAL_BUY", original=original, transaction=original, purchased=T0,
        expires=month(T0), signed=T0, token=token, **kw,
    )  # fmt: skip


async def _stored(s: Stores) -> list[dict[str, Any]]:
    return list((await s.api.ok("GET", "/v1/stores/notifications"))["data"])


async def test_duplicates_and_replays_change_nothing_and_money_is_recorded_once(
    stores: Stores,
) -> None:
    s = stores
    customer, token = await _customer(s)
    payload = _subscribed(s, token, uuid_="7c1a33d2-8f0e-4b7f-9a62-0c2b2f7f3c11")
    first = await s.apple_ok(payload)
    assert (first["duplicate"], first["status"]) == (False, "processed")
    events_before = await s.api.events(customer=customer)
    again = await s.apple_ok(payload)
    assert (again["duplicate"], again["status"]) == (True, "processed")
    # The same transaction in another notification (a new id) records no second invoice.
    renewal_view = s.apple_notice(
        "DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED", original="5000", transaction="5000",
        purchased=T0, expires=month(T0), signed=T0 + timedelta(hours=1), token=token,
    )  # fmt: skip
    await s.apple_ok(renewal_view)
    await s.apple_ok(renewal_view)
    assert len(await s.api.invoices(customer)) == 1
    events_after = await s.api.events(customer=customer)
    assert len(events_after) == len(events_before)  # nothing changed: no event either
    replay = await s.api.post(f"/v1/stores/notifications/{(await _stored(s))[0]['id']}/replay")
    assert replay.status_code == 409
    assert replay.json()["code"] == "store_notification_already_processed"


async def test_out_of_order_notifications_never_move_a_subscription_backwards(
    stores: Stores,
) -> None:
    s = stores
    customer, token = await _customer(s)
    await s.apple_ok(_subscribed(s, token))
    # Delivered late: the renewal (signed later) arrives first, the grace notice after it.
    renewed = s.apple_notice(
        "DID_RENEW", None, original="5000", transaction="5001", purchased=month(T0),
        expires=month(T0, 2), signed=month(T0) + timedelta(days=2), token=token,
    )  # fmt: skip
    grace = s.apple_notice(
        "DID_FAIL_TO_RENEW", "GRACE_PERIOD", original="5000", transaction="5000",
        purchased=T0, expires=month(T0), signed=month(T0), token=token,
    )  # fmt: skip
    assert (await s.apple_ok(renewed))["status"] == "processed"
    late = await s.apple_ok(grace)
    assert late["status"] == "stale"
    sub = await s.subscription_of(customer, "app_store")
    assert sub["status"] == "active" and sub["current_period_end"] == "2026-04-30T12:00:00Z"
    assert [h["to"] for h in await s.history(sub["id"])] == [
        "incomplete",
        "active",
        "active",
    ]
    # A stale report's money still counts, once: here a renewal seen only late.
    assert len(await s.api.invoices(customer)) == 2


async def test_a_notification_that_fails_verification_is_refused_and_nothing_is_stored(
    stores: Stores,
) -> None:
    s = stores
    customer, token = await _customer(s)
    good = _subscribed(s, token)
    header, body, signature = good.split(".")
    tampered = f"{header}.{body}.{signature[:-4]}AAAA"
    wrong_bundle = s.apple.notification(
        "SUBSCRIBED", "INITIAL_BUY", transaction=None, renewal=None, signed=T0,
        bundle_id="com.someone.else",
    )  # fmt: skip
    no_x5c = s.apple.chain.sign({"notificationType": "TEST", "signedDate": ms(T0)}, x5c=False)
    for payload in (tampered, wrong_bundle, no_x5c, "a.b.c", "not-a-jws"):
        response = await s.post_apple(payload)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_signature"
    malformed = await s.api.client.post("/v1/stores/app_store/notifications", json={"x": 1})
    assert malformed.status_code in (400, 422)
    assert await _stored(s) == []
    assert (await s.api.ok("GET", "/v1/subscriptions", customer=customer))["data"] == []


async def test_unlinked_purchase_is_linked_by_reconciliation(stores: Stores) -> None:
    s = stores
    customer, _ = await _customer(s)
    answer = await s.apple_ok(_subscribed(s, None, original="6000"))  # no appAccountToken
    assert answer["status"] == "unlinked"
    txn = s.apple.transaction(
        original="6000", transaction="6000", product=MONTHLY, purchased=T0, expires=month(T0)
    )
    s.fakes.app_store.put(
        "6000",
        status=1,
        transaction=txn,
        renewal=s.apple.renewal(original="6000", product=MONTHLY, signed=T0),
    )
    linked = await s.api.ok(
        "POST",
        "/v1/stores/app_store/reconcile",
        {"original_transaction_id": "6000", "customer": customer},
    )
    assert linked["customer"] == customer and linked["subscription"]["status"] == "active"
    assert linked["subscription"]["channel"] == "app_store"
    other = await s.api.customer(market="US")
    taken = await s.api.post(
        "/v1/stores/app_store/reconcile", {"original_transaction_id": "6000", "customer": other}
    )
    assert taken.status_code == 409
    assert taken.json()["code"] == "store_subscription_linked_elsewhere"
    missing = await s.api.post("/v1/stores/app_store/reconcile", {"original_transaction_id": "1"})
    assert missing.status_code == 404 and missing.json()["code"] == "store_purchase_not_found"
    # The unlinked notification can be replayed now; its state is older: it changes nothing.
    (stored,) = await _stored(s)
    replayed = await s.api.ok("POST", f"/v1/stores/notifications/{stored['id']}/replay")
    assert replayed["status"] in ("stale", "processed")
    assert len(await s.api.invoices(customer)) == 1


async def test_missed_notifications_are_recovered_by_reconciliation(stores: Stores) -> None:
    s = stores
    customer, token = await _customer(s)
    await s.apple_ok(_subscribed(s, token))
    # Apple renewed twice and then the customer asked for a refund of the last: no
    # notification reached Tenure.
    history = [
        s.apple.transaction(
            original="5000",
            transaction=f"500{n}",
            product=MONTHLY,
            purchased=month(T0, n),
            expires=month(T0, n + 1),
            account_token=token,
            signed=month(T0, n),
        )
        for n in range(3)
    ]
    s.fakes.app_store.put(
        "5000",
        status=1,
        transaction=history[-1],
        renewal=s.apple.renewal(original="5000", product=MONTHLY, signed=month(T0, 2)),
        history=history,
    )
    # The worker asks the store once the period end passed without news.
    await s.run_worker()
    sub = await s.subscription_of(customer, "app_store")
    assert sub["status"] == "active" and sub["current_period_end"] == "2026-05-30T12:00:00Z"
    invoices = await s.api.invoices(customer)
    assert [i["total"] for i in invoices] == [999, 999, 999]
    # Asking again (by the API) records nothing twice.
    await s.api.ok("POST", "/v1/stores/app_store/reconcile", {"original_transaction_id": "5000"})
    assert len(await s.api.invoices(customer)) == 3


async def test_billing_actions_on_a_store_subscription_answer_managed_by_store(
    stores: Stores,
) -> None:
    s = stores
    customer, token = await _customer(s)
    await s.apple_ok(_subscribed(s, token))
    sub = await s.subscription_of(customer, "app_store")
    (invoice,) = await s.api.invoices(customer)
    attempts = [
        await s.api.post(f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": True}),
        await s.api.post(f"/v1/subscriptions/{sub['id']}/reactivate"),
        await s.api.post(
            f"/v1/subscriptions/{sub['id']}/change", {"plan": "premium_family_monthly"}
        ),
        await s.api.post(
            f"/v1/subscriptions/{sub['id']}/change_preview", {"plan": "premium_family_monthly"}
        ),
        await s.api.post(f"/v1/subscriptions/{sub['id']}/promo_code", {"code": "SPRING20"}),
        await s.api.post(f"/v1/invoices/{invoice['id']}/pay"),
        await s.api.post(f"/v1/invoices/{invoice['id']}/void"),
        await s.api.post(f"/v1/invoices/{invoice['id']}/refund", {"reason": "asked"}),
    ]
    for response in attempts:
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["code"] == "managed_by_store"
        assert problem["manage_url"] == "https://apps.apple.com/account/subscriptions"
    # metadata is Tenure's own: allowed
    await s.api.ok("POST", f"/v1/subscriptions/{sub['id']}", {"metadata": {"crm": "A-1"}})
    assert (await s.subscription_of(customer, "app_store"))["status"] == "active"


async def test_web_and_store_at_once_take_the_best_and_tell_support(stores: Stores) -> None:
    s = stores
    customer, token = await _customer(s)
    web = await s.api.subscribe(customer, plan="premium_student_monthly")
    assert web["status"] == "active" and web["channel"] == "web"
    await s.apple_ok(
        s.apple_notice(
            "SUBSCRIBED", "INITIAL_BUY", original="7000", transaction="7000",
            product="com.tenure.premium.family.monthly", purchased=T0, expires=month(T0),
            signed=T0, token=token,
        )
    )  # fmt: skip
    listed = (await s.api.ok("GET", "/v1/subscriptions", customer=customer))["data"]
    assert sorted((x["channel"], x["status"]) for x in listed) == [
        ("app_store", "active"),
        ("web", "active"),
    ]
    store_sub = next(x for x in listed if x["channel"] == "app_store")
    ent = await s.entitlements(customer)
    assert (ent["product"], ent["subscription"]) == ("premium_family", store_sub["id"])
    duplicate = [
        e for e in await s.api.events(customer=customer)
        if e["type"] == "customer.duplicate_subscription"
    ]  # fmt: skip
    assert len(duplicate) == 1
    assert duplicate[0]["data"]["subscription"] == store_sub["id"]
    assert {x["channel"] for x in duplicate[0]["data"]["subscriptions"]} == {"web", "app_store"}
    # A second web subscription is still refused; the store one does not count against it.
    second = await s.api.post(
        "/v1/subscriptions",
        {"customer": customer, "plan": "premium_individual_monthly",
         "payment_method": "pm_card_visa"},
    )  # fmt: skip
    assert second.status_code == 409 and second.json()["code"] == "subscription_exists"
    # The store one ends: the web one decides again; the web one is untouched.
    await s.apple_ok(
        s.apple_notice(
            "EXPIRED", "VOLUNTARY", original="7000", transaction="7000",
            product="com.tenure.premium.family.monthly", purchased=T0, expires=month(T0),
            signed=month(T0), token=token, auto_renew=False,
        )
    )  # fmt: skip
    ent = await s.entitlements(customer)
    assert (ent["product"], ent["subscription"]) == ("premium_student", web["id"])
