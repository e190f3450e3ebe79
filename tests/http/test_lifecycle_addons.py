"""Issue 12, add-ons: Audiobooks+ (``audiobooks_addon_monthly``, 99.00 SEK) attached to Premium
Individual in SE mid-period, billed as its own line, granting its own features, removed, and
ended with its subscription. The numbers of docs/billing.md#add-ons.

Premium Individual monthly from 2025-03-01 12:00 (period to 2025-04-01, 31 days).
"""

from __future__ import annotations

from tests.http.test_lifecycle_check import assert_clean
from tests.http.test_trials import assert_problem, entitlements
from tests.support.api import Api

START = "2025-03-01T12:00:00Z"
ADDON = "audiobooks_addon_monthly"


async def test_an_addon_added_mid_period_billed_on_renewal_then_removed(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    sub = await api.subscribe(customer)
    await api.advance(clock, "2025-03-11T08:00:00Z")

    added = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/items", {"plan": ADDON})
    [item] = added["items"]
    assert (item["plan"], item["status"], item["price"]) == (
        ADDON,
        "active",
        {"amount": 9900, "currency": "SEK"},
    )
    charge = await api.ok("GET", f"/v1/invoices/{added['latest_invoice']}")
    # 21 of the period's 31 days are left: 9900 x 21/31 = 6706.45 (VAT 1341 included).
    assert (charge["billing_reason"], charge["total"], charge["tax"], charge["status"]) == (
        "subscription_item",
        6706,
        1341,
        "paid",
    )
    ent = await entitlements(api, customer)
    assert ent["product"] == "premium_individual"
    assert ent["feature_values"]["audiobooks_plus"] is True
    assert ent["feature_values"]["audiobook_hours_extra"] == 15
    assert ent["feature_values"]["audiobook_hours"] == 15  # the base product's own

    # The renewal bills the add-on as its own line.
    await api.advance(clock, "2025-04-01T12:00:00Z")
    renewal = next(
        row for row in await api.invoices(customer) if row["period_start"] == "2025-04-01T12:00:00Z"
    )
    assert [(line["plan"], line["amount"]) for line in renewal["lines"]] == [
        ("premium_individual_monthly", 12900),
        (ADDON, 9900),
    ]
    assert (renewal["total"], renewal["status"]) == (22800, "paid")

    # Removed on 2025-04-21 12:00: 10 of April's 30 days unused, 9900 x 10/30 = 3300.
    await api.advance(clock, "2025-04-21T12:00:00Z")
    removed = await api.ok_delete(f"/v1/subscriptions/{sub['id']}/items/{item['id']}")
    assert removed["items"] == []
    credit = await api.ok("GET", f"/v1/invoices/{removed['latest_invoice']}")
    assert (credit["billing_reason"], credit["total"], credit["credited_to_balance"]) == (
        "subscription_item_credit",
        -3300,
        3300,
    )
    ent = await entitlements(api, customer)
    assert "audiobooks_plus" not in ent["features"]
    await api.advance(clock, "2025-05-01T12:00:00Z")
    may = next(
        row for row in await api.invoices(customer) if row["period_start"] == "2025-05-01T12:00:00Z"
    )
    assert [line["plan"] for line in may["lines"]] == ["premium_individual_monthly"]
    assert (may["credit_applied"], may["amount_paid"]) == (3300, 12900 - 3300)
    types = [event["type"] for event in await api.events(subscription=sub["id"])]
    assert types.count("subscription.item_added") == 1
    assert types.count("subscription.item_removed") == 1
    await assert_clean(api)


async def test_addons_end_with_the_subscription_and_refusals_change_nothing(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    sub = await api.subscribe(customer)
    path = f"/v1/subscriptions/{sub['id']}/items"
    await api.ok("POST", path, {"plan": ADDON})
    assert_problem(await api.post(path, {"plan": ADDON}), 409, "addon_already_attached")
    not_addon = await api.post(path, {"plan": "premium_family_monthly"})
    assert_problem(not_addon, 422, "plan_not_an_addon")
    alone = await api.post(
        "/v1/subscriptions",
        {"customer": await api.customer(clock), "plan": ADDON, "payment_method": "pm_card_visa"},
    )
    assert_problem(alone, 422, "plan_not_purchasable")
    # Not sold in JP; not for an annual plan (billed on different invoices).
    jp = await api.customer(clock, market="JP")
    jp_sub = await api.subscribe(jp)
    assert_problem(
        await api.post(f"/v1/subscriptions/{jp_sub['id']}/items", {"plan": ADDON}),
        422,
        "plan_unavailable_in_market",
    )
    annual = await api.subscribe(await api.customer(clock), plan="premium_individual_annual")
    assert_problem(
        await api.post(f"/v1/subscriptions/{annual['id']}/items", {"plan": ADDON}),
        422,
        "addon_interval_mismatch",
    )

    # Changing to a plan the add-on does not go with is refused until it is removed.
    for plan in ("premium_family_monthly", "premium_individual_annual"):
        change = await api.post(f"/v1/subscriptions/{sub['id']}/change", {"plan": plan})
        assert_problem(change, 409, "addon_not_available")
    assert (await api.subscription(sub["id"]))["plan"] == "premium_individual_monthly"

    await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": False})
    ended = await api.subscription(sub["id"])
    assert (ended["status"], ended["items"]) == ("canceled", [])
    assert "audiobooks_plus" not in (await entitlements(api, customer))["features"]
    await assert_clean(api)


async def test_a_declined_addon_charge_leaves_the_subscription_as_it_was(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    sub = await api.subscribe(customer)
    await api.ok(
        "POST",
        f"/v1/customers/{customer}/payment_methods",
        {"payment_method": "pm_card_declined", "default": True},
    )
    response = await api.post(f"/v1/subscriptions/{sub['id']}/items", {"plan": ADDON})
    assert response.status_code == 402, response.text
    assert (await api.subscription(sub["id"]))["items"] == []
    statuses = sorted(row["status"] for row in await api.invoices(customer))
    assert statuses == ["paid", "void"]
    assert "audiobooks_plus" not in (await entitlements(api, customer))["features"]


async def test_an_addon_removed_comes_back_only_from_the_next_period(api: Api) -> None:
    # Removed, its unused time was credited; attached again in the same period, a cancel with
    # credit would give that time back a second time. So it comes back from the next period.
    clock = await api.clock(START)
    customer = await api.customer(clock)
    sub = await api.subscribe(customer)
    path = f"/v1/subscriptions/{sub['id']}/items"
    item = (await api.ok("POST", path, {"plan": ADDON}))["items"][0]
    await api.advance(clock, "2025-03-11T12:00:00Z")
    await api.ok_delete(f"{path}/{item['id']}")
    invoices_before = len(await api.invoices(customer))
    assert_problem(await api.post(path, {"plan": ADDON}), 409, "addon_removed_this_period")
    assert len(await api.invoices(customer)) == invoices_before
    assert (await api.subscription(sub["id"]))["items"] == []
    await api.advance(clock, "2025-04-01T12:00:00Z")
    again = await api.ok("POST", path, {"plan": ADDON})
    assert [i["plan"] for i in again["items"]] == [ADDON]
    await assert_clean(api)
