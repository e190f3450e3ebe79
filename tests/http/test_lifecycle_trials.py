"""Issue 12, trials: card-less trials, an exact trial_end, and ending a trial now.

Clock at 2025-03-01T12:00:00Z; Premium Individual monthly has a 30-day trial (ends
2025-03-31T12:00:00Z, notice 2025-03-28T12:00:00Z). The default catalog lets Premium Individual
trials in the US start without a payment method; everywhere else a trial needs one. These are
the numbers of docs/billing.md#trials.
"""

from __future__ import annotations

from typing import Any

from tests.http.test_trials import assert_problem, entitlements, event_types
from tests.support.api import Api

START = "2025-03-01T12:00:00Z"
NOTICE = "2025-03-28T12:00:00Z"
TRIAL_END = "2025-03-31T12:00:00Z"


async def card_less_trial(api: Api, market: str = "US") -> tuple[str, str, dict[str, Any]]:
    clock = await api.clock(START)
    customer = await api.customer(clock, market=market)
    sub: dict[str, Any] = await api.ok(
        "POST",
        "/v1/subscriptions",
        {"customer": customer, "plan": "premium_individual_monthly", "trial": True},
    )
    return clock, customer, sub


async def test_a_card_less_trial_ends_expired_without_payment_and_bills_nothing(api: Api) -> None:
    clock, customer, sub = await card_less_trial(api)
    assert (sub["status"], sub["payment_method"], sub["trial_end"]) == (
        "trialing",
        None,
        TRIAL_END,
    )
    assert (await entitlements(api, customer))["product"] == "premium_individual"

    await api.advance(clock, NOTICE)
    notices = await api.events(subscription=sub["id"], type="subscription.trial_will_end")
    assert [event["created"] for event in notices] == [NOTICE]

    await api.advance(clock, TRIAL_END)
    ended = await api.subscription(sub["id"])
    assert (ended["status"], ended["ended_reason"], ended["ended_at"]) == (
        "expired",
        "trial_ended_without_payment",
        TRIAL_END,
    )
    assert await api.invoices(customer) == []
    assert (await entitlements(api, customer))["product"] == "free"
    assert await event_types(api, sub["id"]) == [
        "subscription.created",
        "subscription.trial_will_end",
        "subscription.expired",
    ]
    [expired] = await api.events(subscription=sub["id"], type="subscription.expired")
    assert expired["data"]["reason"] == "trial_ended_without_payment"
    history = await api.ok("GET", f"/v1/subscriptions/{sub['id']}/history")
    assert [(row["from"], row["to"], row["action"]) for row in history["data"]][-1] == (
        "trialing",
        "expired",
        "trial_expired",
    )


async def test_a_card_added_during_a_card_less_trial_is_charged_when_it_ends(api: Api) -> None:
    clock, customer, sub = await card_less_trial(api)
    await api.advance(clock, "2025-03-20T09:00:00Z")
    await api.ok(
        "POST",
        f"/v1/customers/{customer}/payment_methods",
        {"payment_method": "pm_card_visa", "default": True},
    )
    assert (await api.subscription(sub["id"]))["payment_method"] == "pm_card_visa"

    await api.advance(clock, TRIAL_END)
    active = await api.subscription(sub["id"])
    assert active["status"] == "active"
    [invoice] = await api.invoices(customer)
    # US: 11.99 plus 7.25 % sales tax (0.869275 -> 0.87).
    assert (invoice["billing_reason"], invoice["subtotal"], invoice["tax"], invoice["total"]) == (
        "trial_end",
        1199,
        87,
        1286,
    )
    assert (invoice["status"], invoice["amount_paid"]) == ("paid", 1286)


async def test_a_trial_without_a_card_is_refused_where_the_catalog_requires_one(api: Api) -> None:
    clock = await api.clock(START)
    se = await api.customer(clock, market="SE")
    body = {"customer": se, "plan": "premium_individual_monthly", "trial": True}
    response = await api.post("/v1/subscriptions", body)
    assert_problem(response, 422, "payment_method_required")

    # In the US only the trial may start without one; a paid start still needs a card, and so
    # does a trial of another product.
    us = await api.customer(clock, market="US")
    paid = {"customer": us, "plan": "premium_individual_monthly"}
    assert_problem(await api.post("/v1/subscriptions", paid), 422, "payment_method_required")
    family = {"customer": us, "plan": "premium_family_monthly", "trial": True}
    assert_problem(await api.post("/v1/subscriptions", family), 422, "payment_method_required")

    for customer in (se, us):
        assert (await api.ok("GET", "/v1/subscriptions", customer=customer))["data"] == []
        assert await api.events(customer=customer, type="subscription.created") == []


async def test_trial_end_sets_the_trial_and_the_billing_anchor(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    sub = await api.ok(
        "POST",
        "/v1/subscriptions",
        {
            "customer": customer,
            "plan": "premium_individual_monthly",
            "payment_method": "pm_card_visa",
            "trial_end": "2025-03-15T00:00:00Z",
        },
    )
    assert (sub["status"], sub["trial_start"], sub["trial_end"]) == (
        "trialing",
        START,
        "2025-03-15T00:00:00Z",
    )
    assert sub["current_period_end"] == sub["billing_anchor"] == "2025-03-15T00:00:00Z"

    await api.advance(clock, "2025-03-15T00:00:00Z")
    [invoice] = await api.invoices(customer)
    assert (invoice["period_start"], invoice["period_end"], invoice["total"]) == (
        "2025-03-15T00:00:00Z",
        "2025-04-15T00:00:00Z",
        12900,
    )
    assert (await api.subscription(sub["id"]))["status"] == "active"


async def test_trial_end_must_be_in_the_future_and_counts_as_the_familys_one_trial(
    api: Api,
) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    base = {
        "customer": customer,
        "plan": "premium_individual_annual",
        "payment_method": "pm_card_visa",
    }
    for bad in ("2025-03-01T12:00:00Z", "2025-02-01T00:00:00Z", "2027-03-02T12:00:00Z"):
        response = await api.post("/v1/subscriptions", {**base, "trial_end": bad})
        assert_problem(response, 422, "invalid_trial_end")
    assert_problem(
        await api.post("/v1/subscriptions", {**base, "trial_end": "soon"}),
        422,
        "invalid_timestamp",
    )
    assert (await api.ok("GET", "/v1/subscriptions", customer=customer))["data"] == []

    # An exact trial end works on a plan without trial days (annual), once per family.
    sub = await api.ok("POST", "/v1/subscriptions", {**base, "trial_end": "2025-03-08T12:00:00Z"})
    assert sub["status"] == "trialing"
    await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": False})
    again = await api.post(
        "/v1/subscriptions",
        {**base, "plan": "premium_family_monthly", "trial_end": "2025-03-20T12:00:00Z"},
    )
    assert_problem(again, 409, "trial_already_used")


async def test_end_trial_charges_now_and_anchors_the_billing_day_on_the_day_it_ended(
    api: Api,
) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    sub = await api.subscribe(customer, trial=True)
    await api.advance(clock, "2025-03-11T08:00:00Z")

    headers = {"Idempotency-Key": "end-trial-1"}
    response = await api.post(f"/v1/subscriptions/{sub['id']}/end_trial", None, headers=headers)
    assert response.status_code == 200, response.text
    ended = response.json()
    assert (ended["status"], ended["trial_end"], ended["billing_anchor"]) == (
        "active",
        "2025-03-11T08:00:00Z",
        "2025-03-11T08:00:00Z",
    )
    assert (ended["current_period_start"], ended["current_period_end"]) == (
        "2025-03-11T08:00:00Z",
        "2025-04-11T08:00:00Z",
    )
    assert ended["last_payment_error"] is None
    [invoice] = await api.invoices(customer)
    assert invoice["id"] == ended["latest_invoice"]
    assert (invoice["billing_reason"], invoice["total"], invoice["status"]) == (
        "trial_end",
        12900,
        "paid",
    )
    replay = await api.post(f"/v1/subscriptions/{sub['id']}/end_trial", None, headers=headers)
    assert replay.json() == ended
    assert len(await api.invoices(customer)) == 1
    assert await event_types(api, sub["id"]) == [
        "subscription.created",
        "subscription.trial_ended",
        "invoice.created",
        "invoice.paid",
        "subscription.activated",
    ]
    [event] = await api.events(subscription=sub["id"], type="subscription.trial_ended")
    assert event["data"]["scheduled_trial_end"] == TRIAL_END

    # The old trial end passes without anything happening; the renewal follows the new day.
    await api.advance(clock, "2025-04-11T08:00:00Z")
    invoices = sorted(await api.invoices(customer), key=lambda row: row["period_start"])
    assert [row["period_start"] for row in invoices] == [
        "2025-03-11T08:00:00Z",
        "2025-04-11T08:00:00Z",
    ]
    again = await api.post(f"/v1/subscriptions/{sub['id']}/end_trial")
    assert_problem(again, 409, "subscription_not_trialing")


async def test_end_trial_of_a_card_less_trial_needs_a_card_and_changes_nothing(api: Api) -> None:
    clock, customer, sub = await card_less_trial(api)
    await api.advance(clock, "2025-03-05T12:00:00Z")
    response = await api.post(f"/v1/subscriptions/{sub['id']}/end_trial")
    assert_problem(response, 422, "payment_method_required")
    unchanged = await api.subscription(sub["id"])
    assert (unchanged["status"], unchanged["trial_end"]) == ("trialing", TRIAL_END)
    assert await event_types(api, sub["id"]) == ["subscription.created"]

    await api.ok(
        "POST",
        f"/v1/customers/{customer}/payment_methods",
        {"payment_method": "pm_card_declined", "default": True},
    )
    declined = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/end_trial")
    assert declined["status"] == "past_due"
    assert declined["last_payment_error"]["decline_code"] == "card_declined"
    [invoice] = await api.invoices(customer)
    assert (invoice["status"], invoice["total"], invoice["amount_paid"]) == ("open", 1286, 0)
