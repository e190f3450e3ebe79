"""Promo codes and intro offers: discounts as their own lines, once-per-customer limits."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api


async def _promo(api: Api, **terms: Any) -> dict[str, Any]:
    body: dict[str, Any] = await api.ok("POST", "/v1/promo_codes", {"code": "SPRING20", **terms})
    return body


async def test_percent_code_for_three_periods_shows_as_its_own_line(api: Api) -> None:
    await _promo(api, percent_off="20", duration="repeating", duration_periods=3)
    clock = await api.clock("2025-03-01T12:00:00Z")
    customer = await api.customer(clock)
    await api.ok(
        "POST",
        "/v1/subscriptions",
        {
            "customer": customer,
            "plan": "premium_individual_monthly",
            "payment_method": "pm_card_visa",
            "promo_code": "spring20",
        },
    )
    await api.advance(clock, "2025-07-01T12:00:00Z")
    invoices = sorted(await api.invoices(customer), key=lambda i: i["period_start"])
    # 20 % of 129.00 = 25.80 off for three invoices, then the full price.
    assert [i["total"] for i in invoices] == [10320, 10320, 10320, 12900, 12900]
    first = invoices[0]["lines"]
    assert [(line["description"], line["amount"]) for line in first] == [
        ("Premium Individual (premium_individual_monthly)", 12900),
        ("Discount SPRING20 (20% off)", -2580),
    ]
    code = await api.ok("GET", "/v1/promo_codes/SPRING20")
    assert code["times_redeemed"] == 1


async def test_code_rules_refuse_with_precise_codes(api: Api) -> None:
    await _promo(api, percent_off="10", markets=["GB"], max_redemptions=1)
    se = await api.customer(market="SE")
    body = {
        "customer": se,
        "plan": "premium_individual_monthly",
        "payment_method": "pm_card_visa",
        "promo_code": "SPRING20",
    }
    wrong_market = await api.post("/v1/subscriptions", body)
    assert (wrong_market.status_code, wrong_market.json()["code"]) == (
        422,
        "promo_code_not_applicable",
    )
    assert (await api.ok("GET", f"/v1/subscriptions?customer={se}"))["data"] == []

    gb = await api.customer(market="GB")
    assert (await api.post("/v1/subscriptions", {**body, "customer": gb})).status_code == 201
    other = await api.customer(market="GB")
    exhausted = await api.post("/v1/subscriptions", {**body, "customer": other})
    assert exhausted.json()["code"] == "promo_code_exhausted"
    unknown = await api.post(
        "/v1/subscriptions", {**body, "customer": other, "promo_code": "NOPE-NOPE"}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "promo_code_not_found")


async def test_expired_and_already_used_codes_change_nothing(api: Api) -> None:
    await api.ok(
        "POST",
        "/v1/promo_codes",
        {
            "code": "OLD",
            "amount_off": 1000,
            "currency": "SEK",
            "valid_until": "2025-01-01T00:00:00Z",
        },
    )
    await _promo(api, amount_off=1000, currency="SEK", duration="forever")
    clock = await api.clock("2025-03-01T12:00:00Z")
    customer = await api.customer(clock)
    sub = await api.subscribe(customer)
    expired = await api.post(f"/v1/subscriptions/{sub['id']}/promo_code", {"code": "OLD"})
    assert expired.json()["code"] == "promo_code_expired"
    ok = await api.post(f"/v1/subscriptions/{sub['id']}/promo_code", {"code": "SPRING20"})
    assert ok.status_code == 200
    again = await api.post(f"/v1/subscriptions/{sub['id']}/promo_code", {"code": "SPRING20"})
    assert again.json()["code"] == "promo_code_already_used"
    await api.advance(clock, "2025-04-01T12:00:00Z")
    cycle = [i for i in await api.invoices(customer) if i["billing_reason"] == "subscription_cycle"]
    assert [i["total"] for i in cycle] == [11900]


async def test_bad_promo_terms_are_refused(api: Api) -> None:
    for terms, fragment in [
        ({"percent_off": "20", "amount_off": 100}, "exactly one"),
        ({"percent_off": "120"}, "at most 100"),
        ({"amount_off": 100}, "currency"),
        ({"percent_off": "5", "duration": "repeating"}, "duration_periods"),
        ({"percent_off": "5", "products": ["premium_nope"]}, "premium_nope"),
    ]:
        response = await api.post("/v1/promo_codes", {"code": "BAD1", **terms})
        assert response.status_code == 422, terms
        assert response.json()["code"] == "invalid_promo_terms"
        assert fragment in response.json()["detail"]


async def test_intro_offer_three_reduced_months_once_per_customer(api: Api) -> None:
    clock = await api.clock("2025-03-01T12:00:00Z")
    customer = await api.customer(clock)
    plans = await api.ok("GET", "/v1/plans", market="SE", customer=customer)
    individual = next(p for p in plans["data"] if p["id"] == "premium_individual_monthly")
    assert individual["intro_offer"] == {"price": {"amount": 4900, "currency": "SEK"}, "periods": 3}
    assert individual["eligibility"] == {"trial": True, "intro_offer": True}
    sub = await api.ok(
        "POST",
        "/v1/subscriptions",
        {
            "customer": customer,
            "plan": "premium_individual_monthly",
            "payment_method": "pm_card_visa",
            "intro_offer": True,
        },
    )
    assert sub["intro_periods_remaining"] == 2
    await api.advance(clock, "2025-07-01T12:00:00Z")
    totals = [
        i["total"] for i in sorted(await api.invoices(customer), key=lambda i: i["period_start"])
    ]
    assert totals == [4900, 4900, 4900, 12900, 12900]

    await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": False})
    plans = await api.ok("GET", "/v1/plans", customer=customer)
    individual = next(p for p in plans["data"] if p["id"] == "premium_individual_monthly")
    assert individual["eligibility"]["intro_offer"] is False
    again = await api.post(
        "/v1/subscriptions",
        {
            "customer": customer,
            "plan": "premium_individual_monthly",
            "payment_method": "pm_card_visa",
            "intro_offer": True,
        },
    )
    assert (again.status_code, again.json()["code"]) == (409, "intro_offer_already_used")


async def test_intro_and_trial_do_not_combine(api: Api) -> None:
    customer = await api.customer()
    response = await api.post(
        "/v1/subscriptions",
        {
            "customer": customer,
            "plan": "premium_individual_monthly",
            "payment_method": "pm_card_visa",
            "intro_offer": True,
            "trial": True,
        },
    )
    assert (response.status_code, response.json()["code"]) == (422, "offers_not_combinable")
    annual = await api.post(
        "/v1/subscriptions",
        {
            "customer": customer,
            "plan": "premium_individual_annual",
            "payment_method": "pm_card_visa",
            "intro_offer": True,
        },
    )
    assert annual.json()["code"] == "intro_offer_not_offered"
