"""Dunning through the HTTP API with test clocks: every path from a failed renewal.

Clocks start 2025-01-15 09:00 UTC; the first renewal is 2025-02-15 09:00 (FEB). With the
default policy retries fall on Feb 16, 18, 20, 22 and Mar 1; grace ends Feb 22 09:00 and the
hold ends Mar 24 09:00.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tenure.db.engine import Database
from tenure.payments.models import PaymentAttempt, SandboxCharge
from tests.http.test_lifecycle import (
    FEB,
    MAR,
    PREMIUM,
    START,
    assert_problem,
    entitlements,
    event_types,
    invoice_by_start,
    setup,
)
from tests.support.api import Api
from tests.support.catalogs import api_with_catalog, variant

GRACE_END = "2025-02-22T09:00:00Z"
HOLD_END = "2025-03-24T09:00:00Z"


async def attach(api: Api, customer: str, token: str, *, default: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = await api.ok(
        "POST",
        f"/v1/customers/{customer}/payment_methods",
        {"payment_method": token, "default": default},
    )
    return body


async def renewal_fails_hard(api: Api) -> tuple[str, str, dict[str, Any]]:
    """Subscribed with a good card, then an expired card became the default: FEB declines."""
    clock, customer = await setup(api)
    sub = await api.subscribe(customer)
    await attach(api, customer, "pm_card_expired")
    await api.advance(clock, FEB)
    return clock, customer, sub


async def ledger(database_url: str, invoice_id: str) -> list[tuple[str, str]]:
    """The sandbox provider's own record of charges for one invoice: (key, status)."""
    db = Database(database_url)
    try:
        async with db.read() as session:
            rows = await session.execute(
                select(SandboxCharge.idempotency_key, SandboxCharge.status)
                .where(SandboxCharge.idempotency_key.like(f"{invoice_id}:%"))
                .order_by(SandboxCharge.idempotency_key)
            )
            return [(key, status) for key, status in rows.all()]
    finally:
        await db.dispose()


async def attempt_count(database_url: str, invoice_id: str) -> int:
    db = Database(database_url)
    try:
        async with db.read() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(PaymentAttempt)
                .where(PaymentAttempt.invoice_id == invoice_id)
            )
            return int(count or 0)
    finally:
        await db.dispose()


# --- Soft decline, recovered by the ladder ----------------------------------------------------


async def test_a_soft_decline_is_retried_the_next_day_and_recovers(
    api: Api, database_url: str
) -> None:
    clock, customer = await setup(api)
    sub = await api.subscribe(customer, payment_method="pm_card_recovers_on_retry")
    await api.advance(clock, FEB)

    past_due = await api.subscription(sub["id"])
    assert past_due["status"] == "past_due"
    [failed] = await api.events(subscription=sub["id"], type="invoice.payment_failed")
    assert failed["data"]["decline_code"] == "insufficient_funds"
    assert failed["data"]["next_payment_attempt"] == "2025-02-16T09:00:00Z"
    [went] = await api.events(subscription=sub["id"], type="subscription.past_due")
    assert went["data"]["grace_ends_at"] == GRACE_END
    assert went["data"]["hold_ends_at"] == HOLD_END
    ent = await entitlements(api, customer)
    assert (ent["product"], ent["billing_issue"]) == (PREMIUM, True)

    await api.advance(clock, "2025-02-16T09:00:00Z")
    recovered = await api.subscription(sub["id"])
    assert recovered["status"] == "active"
    # keep_anchor: the recovered period is the one that failed; the anchor does not move.
    assert (recovered["current_period_start"], recovered["current_period_end"]) == (FEB, MAR)
    assert recovered["billing_anchor"] == START
    invoice = (await invoice_by_start(api, customer))[FEB]
    assert (invoice["status"], invoice["paid_at"]) == ("paid", "2025-02-16T09:00:00Z")
    assert (await event_types(api, sub["id"]))[-5:] == [
        "invoice.created",
        "invoice.payment_failed",
        "subscription.past_due",
        "invoice.paid",
        "subscription.recovered",
    ]
    [event] = await api.events(subscription=sub["id"], type="subscription.recovered")
    assert event["data"]["recovered_from"] == "past_due"
    assert event["data"]["recovery"] == "keep_anchor"
    ent = await entitlements(api, customer)
    assert (ent["status"], ent["billing_issue"]) == ("active", False)
    # Two attempts, two keys, one successful charge.
    assert await ledger(database_url, invoice["id"]) == [
        (f"{invoice['id']}:attempt:1", "declined"),
        (f"{invoice['id']}:attempt:2", "succeeded"),
    ]
    await api.advance(clock, MAR)  # the next renewal is on the anchor day
    assert (await invoice_by_start(api, customer))[MAR]["period_end"] == "2025-04-15T09:00:00Z"


# --- Hard decline, recovered by a new card ----------------------------------------------------


async def test_a_hard_decline_waits_for_a_new_card_and_recovers_during_grace(
    api: Api, database_url: str
) -> None:
    clock, customer, sub = await renewal_fails_hard(api)
    [failed] = await api.events(subscription=sub["id"], type="invoice.payment_failed")
    assert failed["data"]["decline_code"] == "expired_card"
    assert failed["data"]["next_payment_attempt"] is None  # not retried on the same card
    invoice = (await invoice_by_start(api, customer))[FEB]

    await api.advance(clock, "2025-02-20T09:00:00Z")
    assert (await api.subscription(sub["id"]))["status"] == "past_due"
    assert len(await ledger(database_url, invoice["id"])) == 1  # no ladder retries

    added = await attach(api, customer, "pm_card_visa")
    assert added["default"] is True
    assert added["invoice_retry"] == {
        "invoice": invoice["id"],
        "status": "succeeded",
        "decline_code": None,
        "message": None,
    }
    recovered = await api.subscription(sub["id"])
    assert recovered["status"] == "active"
    assert recovered["payment_method"] == "pm_card_visa"
    paid = (await invoice_by_start(api, customer))[FEB]
    assert (paid["status"], paid["paid_at"]) == ("paid", "2025-02-20T09:00:00Z")
    assert [status for _, status in await ledger(database_url, invoice["id"])] == [
        "declined",
        "succeeded",
    ]


async def test_one_clock_fail_keep_access_lose_it_on_hold_update_card_get_it_back(
    api: Api,
) -> None:
    """The issue's "done when": a renewal fails, access stays for the grace period, goes on
    hold, and comes back when the customer updates the card; the events match."""
    clock, customer, sub = await renewal_fails_hard(api)
    assert (await entitlements(api, customer))["product"] == PREMIUM
    assert (await api.ok("GET", f"/v1/customers/{customer}"))["billing_issue"] is True

    await api.advance(clock, GRACE_END)
    on_hold = await api.subscription(sub["id"])
    assert on_hold["status"] == "on_hold"
    ent = await entitlements(api, customer)
    assert (ent["product"], ent["status"], ent["billing_issue"]) == ("free", "on_hold", True)
    assert (await api.ok("GET", f"/v1/customers/{customer}"))["billing_issue"] is True
    listed = await api.ok("GET", "/v1/subscriptions", customer=customer, status="on_hold")
    assert [row["id"] for row in listed["data"]] == [sub["id"]]
    # Still live: no second subscription while on hold.
    second = await api.post(
        "/v1/subscriptions",
        {"customer": customer, "plan": "premium_duo_monthly", "payment_method": "pm_card_visa"},
    )
    assert_problem(second, 409, "subscription_exists")

    await api.advance(clock, "2025-03-01T12:00:00Z")
    added = await attach(api, customer, "pm_card_mastercard")
    assert added["invoice_retry"]["status"] == "succeeded"
    back = await api.subscription(sub["id"])
    assert back["status"] == "active"
    ent = await entitlements(api, customer)
    assert (ent["product"], ent["billing_issue"]) == (PREMIUM, False)

    # Recovered on hold (the default recovery_during_hold = "restart_period"): the days of the
    # hold (Feb 22 -> Mar 15, 21 of the period's 28) are credited by a hold_credit credit note.
    assert (await event_types(api, sub["id"]))[-8:] == [
        "invoice.created",
        "invoice.payment_failed",
        "subscription.past_due",
        "subscription.on_hold",
        "invoice.paid",
        "invoice.created",
        "invoice.paid",
        "subscription.recovered",
    ]
    [recovered] = await api.events(subscription=sub["id"], type="subscription.recovered")
    assert recovered["data"]["recovered_from"] == "on_hold"
    assert (recovered["data"]["recovery"], recovered["data"]["hold_credit"]) == (
        "restart_period",
        9675,
    )
    assert recovered["created"] == "2025-03-01T12:00:00Z"
    history = (await api.ok("GET", f"/v1/subscriptions/{sub['id']}/history"))["data"]
    assert [(row["from"], row["to"], row["action"]) for row in history][-3:] == [
        ("active", "past_due", "payment_failed"),
        ("past_due", "on_hold", "grace_expired"),
        ("on_hold", "active", "payment_recovered"),
    ]


KEEP_ON_HOLD = ("[lifecycle]\n", '[dunning]\nrecovery_during_hold = "keep_anchor"\n\n[lifecycle]\n')


async def test_recovery_on_hold_after_the_period_end_keeps_the_anchor_and_renews_at_once(
    database_url: str, tmp_path: Path
) -> None:
    """With ``recovery_during_hold = "keep_anchor"`` a recovery on hold buys the failed period
    (as one during grace does) and the next renewal follows on the usual day."""
    async with api_with_catalog(database_url, variant(tmp_path, replace=KEEP_ON_HOLD)) as api:
        await _keep_anchor_on_hold(api)


async def _keep_anchor_on_hold(api: Api) -> None:
    clock, customer, sub = await renewal_fails_hard(api)
    await api.advance(clock, "2025-03-20T09:00:00Z")  # on hold, past the Mar 15 anchor day
    assert (await api.subscription(sub["id"]))["status"] == "on_hold"
    assert sorted(await invoice_by_start(api, customer)) == [START, FEB]  # no renewal on hold

    await attach(api, customer, "pm_card_visa")
    # The failed period is paid; its end (Mar 15) has passed, so the next advance renews.
    await api.advance(clock, "2025-03-20T09:00:01Z")
    invoices = await invoice_by_start(api, customer)
    assert sorted(invoices) == [START, FEB, MAR]
    assert {row["status"] for row in invoices.values()} == {"paid"}
    now = await api.subscription(sub["id"])
    assert (now["status"], now["current_period_end"]) == ("active", "2025-04-15T09:00:00Z")


# --- Exhaustion --------------------------------------------------------------------------------


async def test_retries_exhaust_the_ladder_and_the_hold_ends_in_expiry(
    api: Api, database_url: str
) -> None:
    clock, customer = await setup(api)
    sub = await api.subscribe(customer, payment_method="pm_card_fails_after_first")
    await api.advance(clock, "2025-06-01T09:00:00Z")

    expired = await api.subscription(sub["id"])
    assert (expired["status"], expired["ended_reason"]) == ("expired", "payment_failed")
    assert expired["ended_at"] == HOLD_END
    invoice = (await invoice_by_start(api, customer))[FEB]
    assert invoice["status"] == "uncollectible"
    assert sorted(await invoice_by_start(api, customer)) == [START, FEB]
    ent = await entitlements(api, customer)
    assert (ent["product"], ent["billing_issue"]) == ("free", False)

    failures = await api.events(subscription=sub["id"], type="invoice.payment_failed")
    assert [event["created"] for event in failures] == [
        FEB,
        "2025-02-16T09:00:00Z",
        "2025-02-18T09:00:00Z",
        "2025-02-20T09:00:00Z",
        "2025-02-22T09:00:00Z",
        "2025-03-01T09:00:00Z",
    ]
    assert [event["data"]["next_payment_attempt"] for event in failures] == [
        "2025-02-16T09:00:00Z",
        "2025-02-18T09:00:00Z",
        "2025-02-20T09:00:00Z",
        "2025-02-22T09:00:00Z",
        "2025-03-01T09:00:00Z",
        None,
    ]
    # Each ladder step is a new attempt with a new key: six declined charges, none twice.
    charges = await ledger(database_url, invoice["id"])
    assert sorted(key for key, _ in charges) == sorted(
        f"{invoice['id']}:attempt:{n}" for n in range(1, 7)
    )
    assert {status for _, status in charges} == {"declined"}
    assert await attempt_count(database_url, invoice["id"]) == 6
    types = await event_types(api, sub["id"])
    assert types.count("subscription.on_hold") == 1
    assert types[-2:] == ["subscription.expired", "invoice.marked_uncollectible"]
    [ended] = await api.events(subscription=sub["id"], type="subscription.expired")
    assert ended["data"]["reason"] == "payment_failed"
    # A new card after the end changes nothing: the invoice is closed.
    late = await api.post(f"/v1/invoices/{invoice['id']}/pay", {"payment_method": "pm_card_visa"})
    assert_problem(late, 409, "invoice_not_open")


# --- Cancel during dunning --------------------------------------------------------------------


async def test_cancel_now_during_dunning_stops_retries_and_voids_the_invoice(
    api: Api, database_url: str
) -> None:
    clock, customer = await setup(api)
    sub = await api.subscribe(customer, payment_method="pm_card_fails_after_first")
    await api.advance(clock, "2025-02-25T09:00:00Z")  # on hold
    assert (await api.subscription(sub["id"]))["status"] == "on_hold"
    invoice = (await invoice_by_start(api, customer))[FEB]
    charges_before = len(await ledger(database_url, invoice["id"]))

    response = await api.post(f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": False})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "canceled"
    assert (await invoice_by_start(api, customer))[FEB]["status"] == "void"
    await api.advance(clock, "2025-06-01T09:00:00Z")
    assert len(await ledger(database_url, invoice["id"])) == charges_before
    assert (await api.subscription(sub["id"]))["status"] == "canceled"
    assert (await event_types(api, sub["id"]))[-1] == "subscription.canceled"
    assert (await entitlements(api, customer))["billing_issue"] is False


async def test_cancel_at_period_end_during_grace_ends_at_the_period_end(api: Api) -> None:
    clock, customer, sub = await renewal_fails_hard(api)
    canceling = (
        await api.post(f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": True})
    ).json()
    assert (canceling["status"], canceling["cancel_at_period_end"]) == ("past_due", True)
    await api.advance(clock, "2025-03-16T09:00:00Z")
    ended = await api.subscription(sub["id"])
    # Grace ran out first (on hold Feb 22), then the period ended on Mar 15.
    assert (ended["status"], ended["ended_at"]) == ("expired", MAR)
    assert (await invoice_by_start(api, customer))[FEB]["status"] == "uncollectible"


# --- Payment methods ---------------------------------------------------------------------------


async def test_payment_methods_attach_list_default_detach(api: Api) -> None:
    _, customer = await setup(api)
    visa = await attach(api, customer, "pm_card_visa")
    assert visa["id"].startswith("pm_")
    assert visa["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
    master = await attach(api, customer, "pm_card_mastercard", default=False)
    assert master["default"] is False

    listed = await api.ok("GET", f"/v1/customers/{customer}/payment_methods")
    assert [(m["id"], m["default"]) for m in listed["data"]] == [
        (visa["id"], True),
        (master["id"], False),
    ]
    switched = await api.ok(
        "POST", f"/v1/customers/{customer}/payment_methods/{master['id']}/default", {}
    )
    assert (switched["default"], switched["invoice_retry"]) == (True, None)

    # Subscribing without a payment method charges the default.
    sub = await api.ok(
        "POST", "/v1/subscriptions", {"customer": customer, "plan": "premium_individual_monthly"}
    )
    assert (sub["status"], sub["payment_method"]) == ("active", "pm_card_mastercard")

    in_use = await api.client.delete(
        f"/v1/customers/{customer}/payment_methods/{master['id']}", headers=_auth()
    )
    assert_problem(in_use, 409, "payment_method_in_use")
    gone = await api.client.delete(
        f"/v1/customers/{customer}/payment_methods/{visa['id']}", headers=_auth()
    )
    assert gone.status_code == 200, gone.text
    assert gone.json()["detached"] is True
    listed = await api.ok("GET", f"/v1/customers/{customer}/payment_methods")
    assert [m["id"] for m in listed["data"]] == [master["id"]]
    missing = await api.post(f"/v1/customers/{customer}/payment_methods/{visa['id']}/default", {})
    assert_problem(missing, 404, "payment_method_not_found")


async def test_a_raw_token_on_subscribe_is_stored_as_the_default_method(api: Api) -> None:
    _, customer = await setup(api)
    await api.subscribe(customer, payment_method="pm_card_visa")
    listed = await api.ok("GET", f"/v1/customers/{customer}/payment_methods")
    [method] = listed["data"]
    assert (method["default"], method["card"]["last4"]) == (True, "4242")


async def test_without_any_payment_method_subscribe_says_what_to_do(api: Api) -> None:
    _, customer = await setup(api)
    response = await api.post(
        "/v1/subscriptions", {"customer": customer, "plan": "premium_individual_monthly"}
    )
    assert_problem(response, 422, "payment_method_required")


CARD_NUMBERS = [
    "4242424242424242",  # Luhn-valid Visa
    "4242 4242 4242 4241",  # grouped, Luhn-invalid
    "5555-5555-5555-4444",
    "378282246310005",  # 15-digit Amex
    "6011000990139424123",  # 19 digits
    "4222222222222",  # 13 digits
]


async def test_a_full_card_number_is_refused_wherever_it_appears(api: Api) -> None:
    _, customer = await setup(api)
    paths_bodies = []
    for number in CARD_NUMBERS:
        paths_bodies += [
            (f"/v1/customers/{customer}/payment_methods", {"payment_method": number}),
            (
                f"/v1/customers/{customer}/payment_methods",
                {"payment_method": "pm_card_visa", "card_number": number},
            ),
            (
                "/v1/subscriptions",
                {
                    "customer": customer,
                    "plan": "premium_individual_monthly",
                    "payment_method": number,
                },
            ),
        ]
    for path, body in paths_bodies:
        problem = assert_problem(await api.post(path, body), 422, "card_number_not_accepted")
        assert "card number" in problem["detail"]
    listed = await api.ok("GET", f"/v1/customers/{customer}/payment_methods")
    assert listed["data"] == []
    # Twelve digits is not a card number, it is just an unknown token.
    short = await api.post(
        f"/v1/customers/{customer}/payment_methods", {"payment_method": "424242424242"}
    )
    assert_problem(short, 422, "unknown_payment_method")


def _auth() -> dict[str, str]:
    from tests.support.api import AUTH

    return AUTH
