"""Issue 12, prepaid plans (``renews = false``): paid once, access to the end, a notice a week
before, extended by buying again (time is added, never overlapped), no renewal and no dunning.
The numbers of docs/billing.md#prepaid-plans.

India, Premium Individual prepaid for 3 months: 399.00 INR (39900, GST 18 % included:
39900 x 0.18/1.18 = 6086.44 -> 6086).
"""

from __future__ import annotations

from tests.http.test_lifecycle_check import assert_clean
from tests.http.test_trials import assert_problem, entitlements, event_types
from tests.support.api import Api

START = "2025-03-01T12:00:00Z"
THREE_MONTHS = "premium_individual_prepaid_3m"


async def test_a_three_month_prepaid_plan_extended_once_then_expires(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock, market="IN")
    sub = await api.subscribe(customer, plan=THREE_MONTHS)
    assert (sub["status"], sub["renews"], sub["current_period_end"]) == (
        "active",
        False,
        "2025-06-01T12:00:00Z",
    )
    [first] = await api.invoices(customer)
    assert (first["total"], first["tax"], first["status"]) == (39900, 6086, "paid")

    await api.advance(clock, "2025-05-25T12:00:00Z")
    [notice] = await api.events(subscription=sub["id"], type="subscription.expiring_soon")
    assert (notice["created"], notice["data"]["renews"]) == ("2025-05-25T12:00:00Z", False)

    await api.advance(clock, "2025-05-28T09:00:00Z")
    extended = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/extend", {"plan": THREE_MONTHS})
    assert (extended["status"], extended["current_period_end"]) == (
        "active",
        "2025-09-01T12:00:00Z",
    )
    extension = await api.ok("GET", f"/v1/invoices/{extended['latest_invoice']}")
    assert (extension["billing_reason"], extension["total"], extension["status"]) == (
        "prepaid_extension",
        39900,
        "paid",
    )
    # The time bought follows the time the customer had: Jun 1 -> Sep 1, no overlap.
    assert (extension["period_start"], extension["period_end"]) == (
        "2025-06-01T12:00:00Z",
        "2025-09-01T12:00:00Z",
    )
    [event] = await api.events(subscription=sub["id"], type="subscription.extended")
    assert event["data"]["extended_from"] == "2025-06-01T12:00:00Z"

    await api.advance(clock, "2025-08-31T12:00:00Z")
    notices = await api.events(subscription=sub["id"], type="subscription.expiring_soon")
    assert [row["created"] for row in notices] == ["2025-05-25T12:00:00Z", "2025-08-25T12:00:00Z"]
    assert (await entitlements(api, customer))["product"] == "premium_individual"

    await api.advance(clock, "2025-09-02T12:00:00Z")
    ended = await api.subscription(sub["id"])
    assert (ended["status"], ended["ended_reason"], ended["ended_at"]) == (
        "expired",
        "prepaid_ended",
        "2025-09-01T12:00:00Z",
    )
    assert len(await api.invoices(customer)) == 2  # no renewal was ever invoiced
    assert (await entitlements(api, customer))["product"] == "free"
    assert "subscription.past_due" not in await event_types(api, sub["id"])
    await assert_clean(api)


async def test_plans_say_what_renews_what_is_an_addon_and_where_a_trial_needs_no_card(
    api: Api,
) -> None:
    india = {row["id"]: row for row in (await api.ok("GET", "/v1/plans", market="IN"))["data"]}
    assert india[THREE_MONTHS]["renews"] is False
    assert (india[THREE_MONTHS]["interval_count"], india[THREE_MONTHS]["price"]["amount"]) == (
        3,
        39900,
    )
    assert india["premium_individual_monthly"]["renews"] is True
    sweden = {row["id"]: row for row in (await api.ok("GET", "/v1/plans", market="SE"))["data"]}
    assert sweden["audiobooks_addon_monthly"]["addon_for"] == ["premium_individual"]
    assert THREE_MONTHS not in sweden
    us = {row["id"]: row for row in (await api.ok("GET", "/v1/plans", market="US"))["data"]}
    assert us["premium_individual_monthly"]["trial_requires_payment_method"] is False
    assert us["premium_family_monthly"]["trial_requires_payment_method"] is True


async def test_prepaid_refusals_change_nothing(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock, market="IN")
    sub = await api.subscribe(customer, plan="premium_individual_prepaid_1m")
    path = f"/v1/subscriptions/{sub['id']}"
    change = await api.post(f"{path}/change", {"plan": "premium_individual_monthly"})
    assert_problem(change, 409, "subscription_prepaid")
    wrong = await api.post(f"{path}/extend", {"plan": "premium_individual_monthly"})
    assert_problem(wrong, 422, "plan_not_extendable")
    await api.ok(
        "POST",
        f"/v1/customers/{customer}/payment_methods",
        {"payment_method": "pm_card_declined", "default": True},
    )
    declined = await api.post(f"{path}/extend", {"plan": "premium_individual_prepaid_1m"})
    assert declined.status_code == 402, declined.text
    after = await api.subscription(sub["id"])
    assert (after["status"], after["current_period_end"]) == ("active", "2025-04-01T12:00:00Z")
    statuses = sorted(row["status"] for row in await api.invoices(customer))
    assert statuses == ["paid", "void"]
    trial = await api.post(
        "/v1/subscriptions",
        {
            "customer": await api.customer(clock, market="BR"),
            "plan": "premium_individual_prepaid_1m",
            "payment_method": "pm_card_visa",
            "trial": True,
        },
    )
    assert_problem(trial, 422, "trial_not_offered")

    # A renewing subscription is not extended.
    se = await api.customer(clock)
    monthly = await api.subscribe(se)
    renewing = await api.post(
        f"/v1/subscriptions/{monthly['id']}/extend", {"plan": "premium_individual_prepaid_1m"}
    )
    assert_problem(renewing, 409, "subscription_not_prepaid")
