"""Issue 12, future starts: ``start_at`` creates a ``scheduled`` subscription that the worker
(here a test clock) starts when its time comes, paid or into its trial; it can be canceled
before then. The numbers of docs/billing.md#future-starts.
"""

from __future__ import annotations

from typing import Any

from tests.http.test_trials import assert_problem, entitlements, event_types
from tests.support.api import Api

NOW = "2025-03-01T12:00:00Z"
START = "2025-03-15T00:00:00Z"


async def schedule(api: Api, customer: str, **extra: Any) -> dict[str, Any]:
    body = {
        "customer": customer,
        "plan": "premium_individual_monthly",
        "payment_method": "pm_card_visa",
        "start_at": START,
        **extra,
    }
    result: dict[str, Any] = await api.ok("POST", "/v1/subscriptions", body)
    return result


async def test_a_scheduled_subscription_starts_paid_when_its_time_comes(api: Api) -> None:
    clock = await api.clock(NOW)
    customer = await api.customer(clock)
    sub = await schedule(api, customer)
    assert (sub["status"], sub["latest_invoice"]) == ("scheduled", None)
    assert (sub["current_period_start"], sub["current_period_end"], sub["billing_anchor"]) == (
        START,
        START,
        START,
    )
    assert sub["created"] == NOW
    assert await api.invoices(customer) == []
    assert (await entitlements(api, customer))["product"] == "free"
    # A scheduled subscription is live: a second one is refused.
    again = await api.post(
        "/v1/subscriptions",
        {
            "customer": customer,
            "plan": "premium_individual_monthly",
            "payment_method": "pm_card_visa",
        },
    )
    assert_problem(again, 409, "subscription_exists")

    await api.advance(clock, "2025-03-14T23:59:59Z")
    assert (await api.subscription(sub["id"]))["status"] == "scheduled"
    await api.advance(clock, START)
    started = await api.subscription(sub["id"])
    assert (started["status"], started["current_period_start"], started["current_period_end"]) == (
        "active",
        START,
        "2025-04-15T00:00:00Z",
    )
    [invoice] = await api.invoices(customer)
    assert (invoice["billing_reason"], invoice["total"], invoice["status"]) == (
        "subscription_create",
        12900,
        "paid",
    )
    assert (invoice["period_start"], invoice["created"]) == (START, START)
    assert (await entitlements(api, customer))["product"] == "premium_individual"
    assert await event_types(api, sub["id"]) == [
        "subscription.created",
        "subscription.started",
        "invoice.created",
        "invoice.paid",
        "subscription.activated",
    ]
    history = await api.ok("GET", f"/v1/subscriptions/{sub['id']}/history")
    assert [(row["from"], row["to"], row["action"]) for row in history["data"]] == [
        (None, "scheduled", "created"),
        ("scheduled", "incomplete", "start"),
        ("incomplete", "active", "first_payment_succeeded"),
    ]


async def test_a_scheduled_trial_starts_trialing_and_is_charged_at_its_end(api: Api) -> None:
    clock = await api.clock(NOW)
    customer = await api.customer(clock)
    sub = await schedule(api, customer, trial=True)
    assert (sub["status"], sub["trial_start"], sub["trial_end"]) == (
        "scheduled",
        START,
        "2025-04-14T00:00:00Z",
    )
    await api.advance(clock, START)
    assert (await api.subscription(sub["id"]))["status"] == "trialing"
    assert await api.invoices(customer) == []
    await api.advance(clock, "2025-04-14T00:00:00Z")
    [invoice] = await api.invoices(customer)
    assert (invoice["billing_reason"], invoice["total"]) == ("trial_end", 12900)
    assert (await api.subscription(sub["id"]))["status"] == "active"


async def test_a_declined_first_charge_at_the_start_leaves_it_incomplete(api: Api) -> None:
    clock = await api.clock(NOW)
    customer = await api.customer(clock)
    sub = await schedule(api, customer, payment_method="pm_card_declined")
    await api.advance(clock, START)
    started = await api.subscription(sub["id"])
    assert started["status"] == "incomplete"
    [invoice] = await api.invoices(customer)
    assert (invoice["status"], invoice["total"]) == ("open", 12900)
    await api.advance(clock, "2025-03-15T23:00:00Z")
    assert (await api.subscription(sub["id"]))["status"] == "incomplete_expired"


async def test_a_scheduled_subscription_is_canceled_before_it_starts_and_keeps_the_trial(
    api: Api,
) -> None:
    clock = await api.clock(NOW)
    customer = await api.customer(clock)
    sub = await schedule(api, customer, trial=True)
    # Whatever at_period_end says, a subscription that has not started is canceled now.
    canceled = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel")
    assert (canceled["status"], canceled["ended_reason"], canceled["ended_at"]) == (
        "canceled",
        "canceled",
        NOW,
    )
    await api.advance(clock, "2025-04-01T00:00:00Z")
    assert await api.invoices(customer) == []
    assert await event_types(api, sub["id"]) == ["subscription.created", "subscription.canceled"]
    # The trial it reserved was never used: the customer may take it now.
    fresh = await api.subscribe(customer, trial=True)
    assert fresh["status"] == "trialing"


async def test_start_at_must_be_in_the_future_and_within_a_year(api: Api) -> None:
    clock = await api.clock(NOW)
    customer = await api.customer(clock)
    base = {
        "customer": customer,
        "plan": "premium_individual_monthly",
        "payment_method": "pm_card_visa",
    }
    for bad in (NOW, "2025-02-01T00:00:00Z", "2026-03-01T12:00:01Z"):
        response = await api.post("/v1/subscriptions", {**base, "start_at": bad})
        assert_problem(response, 422, "invalid_start_at")
    assert (await api.ok("GET", "/v1/subscriptions", customer=customer))["data"] == []
    # Nothing but cancel applies before the start.
    sub = await schedule(api, customer)
    for path, body in (
        ("change", {"plan": "premium_family_monthly"}),
        ("end_trial", None),
        ("reactivate", None),
    ):
        response = await api.post(f"/v1/subscriptions/{sub['id']}/{path}", body)
        assert response.status_code == 409, (path, response.text)
    assert (await api.subscription(sub["id"]))["status"] == "scheduled"


async def test_a_scheduled_start_on_a_billing_day_prorates_from_the_start(api: Api) -> None:
    clock = await api.clock(NOW)
    customer = await api.customer(clock)
    sub = await schedule(api, customer, billing_anchor=1)
    assert sub["billing_anchor"] == "2025-03-01T00:00:00Z"
    await api.advance(clock, START)
    [invoice] = await api.invoices(customer)
    # 17 of March's 31 days from the 15th: 12900 x 17/31 = 7074.19.
    assert (invoice["period_start"], invoice["period_end"], invoice["total"]) == (
        START,
        "2025-04-01T00:00:00Z",
        7074,
    )
