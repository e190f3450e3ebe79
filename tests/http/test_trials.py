"""Trials through HTTP and test clocks: the notice, conversion, once per family, cancel, decline.

Every test starts a clock at 2025-03-01T12:00:00Z, so a 30-day trial ends 2025-03-31T12:00:00Z
(notice three days earlier, 2025-03-28T12:00:00Z) and the first paid period, anchored on the
31st, runs to 2025-04-30T12:00:00Z (clamped), then 2025-05-31T12:00:00Z.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import Api

START = "2025-03-01T12:00:00Z"
NOTICE = "2025-03-28T12:00:00Z"
TRIAL_END = "2025-03-31T12:00:00Z"
FIRST_PAID_END = "2025-04-30T12:00:00Z"
SECOND_PAID_END = "2025-05-31T12:00:00Z"


async def start_trial(
    api: Api, *, payment_method: str = "pm_card_visa"
) -> tuple[str, str, dict[str, Any]]:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    sub = await api.subscribe(customer, payment_method=payment_method, trial=True)
    return clock, customer, sub


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    return body


async def entitlements(api: Api, customer: str) -> dict[str, Any]:
    body: dict[str, Any] = await api.ok("GET", f"/v1/customers/{customer}/entitlements")
    return body


async def event_types(api: Api, sub_id: str) -> list[str]:
    return [event["type"] for event in await api.events(subscription=sub_id)]


async def test_trial_starts_trialing_for_thirty_days_without_an_invoice(api: Api) -> None:
    _, customer, sub = await start_trial(api)

    assert sub["status"] == "trialing"
    assert sub["trial_start"] == START
    assert sub["trial_end"] == TRIAL_END
    assert sub["current_period_start"] == START
    assert sub["current_period_end"] == TRIAL_END
    assert sub["billing_anchor"] == TRIAL_END
    assert sub["latest_invoice"] is None
    assert sub["last_payment_error"] is None
    assert await api.invoices(customer) == []
    assert await event_types(api, sub["id"]) == ["subscription.created"]

    ent = await entitlements(api, customer)
    assert ent["product"] == "premium_individual"
    assert ent["status"] == "trialing"
    assert ent["valid_until"] == TRIAL_END
    assert ent["billing_issue"] is False
    assert "ad_free" in ent["features"]


async def test_trial_will_end_is_sent_exactly_three_days_before_the_trial_ends(api: Api) -> None:
    clock, _, sub = await start_trial(api)

    await api.advance(clock, "2025-03-28T11:59:59Z")
    assert "subscription.trial_will_end" not in await event_types(api, sub["id"])

    await api.advance(clock, NOTICE)
    notices = await api.events(subscription=sub["id"], type="subscription.trial_will_end")
    assert len(notices) == 1
    assert notices[0]["created"] == NOTICE
    assert notices[0]["data"]["trial_end"] == TRIAL_END
    assert notices[0]["data"]["status"] == "trialing"

    # Still once, however much more time passes before (and after) the trial ends.
    await api.advance(clock, "2025-03-31T11:59:59Z")
    await api.advance(clock, "2025-04-10T12:00:00Z")
    types = await event_types(api, sub["id"])
    assert types.count("subscription.trial_will_end") == 1


async def test_trial_converts_at_its_end_and_anchors_billing_on_the_trial_end(api: Api) -> None:
    clock, customer, sub = await start_trial(api)

    await api.advance(clock, "2025-03-31T11:59:59Z")
    assert await api.invoices(customer) == []
    assert (await api.subscription(sub["id"]))["status"] == "trialing"

    await api.advance(clock, TRIAL_END)
    [invoice] = await api.invoices(customer)
    assert invoice["billing_reason"] == "trial_end"
    assert invoice["status"] == "paid"
    assert invoice["period_start"] == TRIAL_END
    assert invoice["period_end"] == FIRST_PAID_END
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (10320, 2580, 12900)
    assert invoice["amount_paid"] == 12900
    assert invoice["created"] == TRIAL_END
    assert invoice["paid_at"] == TRIAL_END

    active = await api.subscription(sub["id"])
    assert active["status"] == "active"
    assert active["billing_anchor"] == TRIAL_END
    assert active["current_period_start"] == TRIAL_END
    assert active["current_period_end"] == FIRST_PAID_END
    assert await event_types(api, sub["id"]) == [
        "subscription.created",
        "subscription.trial_will_end",
        "invoice.created",
        "invoice.paid",
        "subscription.activated",
    ]
    activated = await api.events(subscription=sub["id"], type="subscription.activated")
    assert activated[0]["created"] == TRIAL_END

    # The next renewal keeps the anchor: Apr 30, then May 31 (not May 30).
    await api.advance(clock, SECOND_PAID_END)
    invoices = sorted(await api.invoices(customer), key=lambda row: row["period_start"])
    assert [(row["period_start"], row["period_end"]) for row in invoices] == [
        (TRIAL_END, FIRST_PAID_END),
        (FIRST_PAID_END, SECOND_PAID_END),
        (SECOND_PAID_END, "2025-06-30T12:00:00Z"),
    ]
    assert [row["billing_reason"] for row in invoices] == [
        "trial_end",
        "subscription_cycle",
        "subscription_cycle",
    ]
    assert {row["status"] for row in invoices} == {"paid"}
    ent = await entitlements(api, customer)
    assert (ent["product"], ent["status"], ent["billing_issue"]) == (
        "premium_individual",
        "active",
        False,
    )


async def test_a_trial_is_granted_once_per_product_family_ever(api: Api) -> None:
    clock, customer, sub = await start_trial(api)
    await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": False})
    await api.advance(clock, "2025-03-05T12:00:00Z")

    for plan in ("premium_duo_monthly", "premium_individual_monthly", "premium_family_monthly"):
        response = await api.post(
            "/v1/subscriptions",
            {"customer": customer, "plan": plan, "payment_method": "pm_card_visa", "trial": True},
        )
        body = assert_problem(response, 409, "trial_already_used")
        assert body["subscription"] == sub["id"]
    listed = await api.ok("GET", "/v1/subscriptions", customer=customer)
    assert [row["id"] for row in listed["data"]] == [sub["id"]]

    # Paying straight away is still allowed, and another customer still gets a trial.
    paid = await api.subscribe(customer, plan="premium_duo_monthly")
    assert paid["status"] == "active"
    assert paid["trial_end"] is None
    other = await api.subscribe(await api.customer(clock), plan="premium_duo_monthly", trial=True)
    assert other["status"] == "trialing"
    assert other["trial_end"] == "2025-04-04T12:00:00Z"


async def test_a_trial_that_ended_by_expiry_also_counts_as_used(api: Api) -> None:
    clock, customer, sub = await start_trial(api)
    await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": True})
    await api.advance(clock, "2025-04-01T12:00:00Z")
    assert (await api.subscription(sub["id"]))["status"] == "expired"

    response = await api.post(
        "/v1/subscriptions",
        {
            "customer": customer,
            "plan": "premium_duo_monthly",
            "payment_method": "pm_card_visa",
            "trial": True,
        },
    )
    assert_problem(response, 409, "trial_already_used")


async def test_annual_plans_offer_no_trial(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    response = await api.post(
        "/v1/subscriptions",
        {
            "customer": customer,
            "plan": "premium_individual_annual",
            "payment_method": "pm_card_visa",
            "trial": True,
        },
    )
    assert_problem(response, 422, "trial_not_offered")
    listed = await api.ok("GET", "/v1/subscriptions", customer=customer)
    assert listed["data"] == []
    assert await api.invoices(customer) == []

    # The refusal did not burn the customer's trial.
    sub = await api.subscribe(customer, plan="premium_individual_monthly", trial=True)
    assert sub["status"] == "trialing"


async def test_cancel_at_period_end_during_a_trial_ends_it_without_billing(api: Api) -> None:
    clock, customer, sub = await start_trial(api)
    await api.advance(clock, "2025-03-10T12:00:00Z")

    canceled = await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": True}
    )
    assert canceled["status"] == "trialing"
    assert canceled["cancel_at_period_end"] is True
    assert canceled["canceled_at"] == "2025-03-10T12:00:00Z"
    assert (await entitlements(api, customer))["product"] == "premium_individual"

    await api.advance(clock, "2025-03-31T11:59:59Z")
    assert (await api.subscription(sub["id"]))["status"] == "trialing"

    await api.advance(clock, "2025-05-01T12:00:00Z")
    ended = await api.subscription(sub["id"])
    assert ended["status"] == "expired"
    assert ended["ended_reason"] == "canceled"
    assert ended["ended_at"] == TRIAL_END
    assert ended["cancel_at_period_end"] is False
    assert await api.invoices(customer) == []

    ent = await entitlements(api, customer)
    assert ent["product"] == "free"
    assert ent["status"] == "free"
    assert "ad_free" not in ent["features"]
    # Someone leaving gets no "your trial ends soon" reminder.
    assert await event_types(api, sub["id"]) == [
        "subscription.created",
        "subscription.canceled",
        "subscription.expired",
    ]


async def test_a_declined_card_at_trial_end_makes_the_subscription_past_due(api: Api) -> None:
    clock, customer, sub = await start_trial(api, payment_method="pm_card_declined")
    assert sub["status"] == "trialing"

    await api.advance(clock, "2025-04-01T12:00:00Z")
    past_due = await api.subscription(sub["id"])
    assert past_due["status"] == "past_due"
    assert past_due["current_period_start"] == TRIAL_END
    assert past_due["current_period_end"] == FIRST_PAID_END

    [invoice] = await api.invoices(customer)
    assert invoice["billing_reason"] == "trial_end"
    assert invoice["status"] == "open"
    assert invoice["amount_due"] == 12900
    assert invoice["amount_paid"] == 0

    assert await event_types(api, sub["id"]) == [
        "subscription.created",
        "subscription.trial_will_end",
        "invoice.created",
        "invoice.payment_failed",
        "subscription.past_due",
    ]
    [failed] = await api.events(subscription=sub["id"], type="invoice.payment_failed")
    assert failed["created"] == TRIAL_END
    assert failed["data"]["decline_code"] == "card_declined"
    assert failed["data"]["retryable"] is False
    assert failed["data"]["invoice"] == invoice["id"]
    [went_past_due] = await api.events(subscription=sub["id"], type="subscription.past_due")
    assert went_past_due["data"]["decline_code"] == "card_declined"

    ent = await entitlements(api, customer)
    assert ent["product"] == "premium_individual"
    assert ent["status"] == "past_due"
    assert ent["billing_issue"] is True
    assert ent["valid_until"] == "2025-04-07T12:00:00Z"  # seven days of grace
    assert "ad_free" in ent["features"]
    customer_view = await api.ok("GET", f"/v1/customers/{customer}")
    assert customer_view["billing_issue"] is True
