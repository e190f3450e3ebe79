"""Win-back prices: shown with the plans to customers gone long enough, taken on resubscribe,
once per customer per window (default catalog: 50% off 3 months after 30 days away)."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api

OFFER = "come_back_half_price"
PLAN = "premium_individual_monthly"


async def _winback(api: Api, customer: str) -> dict[str, Any]:
    body = await api.ok("GET", "/v1/plans", customer=customer)
    return {plan["id"]: plan["winback_offer"] for plan in body["data"]}


async def _subscribe(api: Api, customer: str, offer: str) -> Any:
    return await api.post(
        "/v1/subscriptions",
        {"customer": customer, "plan": PLAN, "payment_method": "pm_card_visa", "offer": offer},
    )


async def test_winback_price_on_resubscribe_after_30_days(api: Api) -> None:
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    first = (await api.subscribe(customer))["id"]
    await api.advance(clock, "2025-02-10T10:00:00Z")
    await api.ok("POST", f"/v1/subscriptions/{first}/cancel", {"at_period_end": False})

    await api.advance(clock, "2025-02-20T10:00:00Z")
    assert (await _winback(api, customer))[PLAN] is None
    early = await _subscribe(api, customer, OFFER)
    assert (early.status_code, early.json()["code"], early.json()["reason"]) == (
        409,
        "offer_not_eligible",
        "not_gone_long_enough",
    )
    assert len((await api.ok("GET", "/v1/subscriptions", customer=customer))["data"]) == 1

    await api.advance(clock, "2025-03-15T10:00:00Z")
    shown = await _winback(api, customer)
    assert shown[PLAN] == {
        "id": OFFER,
        "description": "Welcome back: 50% off your first 3 months",
        "price": {"amount": 6450, "currency": "SEK"},
        "periods": 3,
    }
    assert shown["premium_individual_annual"] is None  # not in the offer's plans
    back = await _subscribe(api, customer, OFFER)
    assert back.status_code == 201, back.text
    second = back.json()["id"]
    await api.advance(clock, "2025-06-16T10:00:00Z")
    invoices = [i for i in await api.invoices(customer) if i["subscription"] == second]
    totals = [i["total"] for i in sorted(invoices, key=lambda i: i["period_start"])]
    assert totals == [6450, 6450, 6450, 12900]

    # Once per customer within 365 days: gone again for 40 days, no win-back price.
    await api.ok("POST", f"/v1/subscriptions/{second}/cancel", {"at_period_end": False})
    await api.advance(clock, "2025-07-30T10:00:00Z")
    assert (await _winback(api, customer))[PLAN] is None
    again = await _subscribe(api, customer, OFFER)
    assert (again.status_code, again.json()["reason"]) == (409, "offer_already_used")


async def test_winback_needs_a_previous_subscription_and_a_known_offer(api: Api) -> None:
    customer = await api.customer()
    assert all(offer is None for offer in (await _winback(api, customer)).values())
    new = await _subscribe(api, customer, OFFER)
    assert (new.status_code, new.json()["reason"]) == (409, "no_previous_subscription")
    unknown = await _subscribe(api, customer, "no_such_offer")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "offer_not_found")
    assert (await api.ok("GET", "/v1/subscriptions", customer=customer))["data"] == []
