"""Prices, tax and currencies per market, exactly in minor units; leap-day annual anchors.

Tax-inclusive (VAT) markets: tax = round_half_up(gross * rate / (1 + rate)), net = gross - tax.
Tax-exclusive (US): tax = round_half_up(net * rate), total = net + tax.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api

START = "2025-01-15T09:00:00Z"
RENEWAL = "2025-02-15T09:00:00Z"

# (market, currency, tax_inclusive, tax_rate, price, subtotal, tax, total)
MONTHLY_AMOUNTS = [
    # 12900 * 0.25 / 1.25 = 2580 exactly; 12900 - 2580 = 10320
    ("SE", "SEK", True, "25", 12900, 10320, 2580, 12900),
    # 1199 * 0.20 / 1.20 = 1199 / 6 = 199.833... -> 200; 1199 - 200 = 999
    ("GB", "GBP", True, "20", 1199, 999, 200, 1199),
    # 1099 * 0.19 / 1.19 = 20881 / 119 = 175.470... -> 175; 1099 - 175 = 924
    ("DE", "EUR", True, "19", 1099, 924, 175, 1099),
    # tax on top: 1199 * 0.0725 = 86.9275 -> 87; 1199 + 87 = 1286
    ("US", "USD", False, "7.25", 1199, 1199, 87, 1286),
    # JPY has no minor unit: 1080 * 0.10 / 1.10 = 1080 / 11 = 98.18... -> 98; 1080 - 98 = 982
    ("JP", "JPY", True, "10", 1080, 982, 98, 1080),
    # KWD has three decimals (1.500 KWD = 1500 fils) and no VAT: tax 0
    ("KW", "KWD", True, "0", 1500, 1500, 0, 1500),
    # 2190 * 0.0925 / 1.0925 = 2025750 / 10925 = 185.423... -> 185; 2190 - 185 = 2005
    ("BR", "BRL", True, "9.25", 2190, 2005, 185, 2190),
    # 13900 * 0.18 / 1.18 = 250200 / 118 = 2120.338... -> 2120; 13900 - 2120 = 11780
    ("IN", "INR", True, "18", 13900, 11780, 2120, 13900),
]


def amounts(invoice: dict[str, Any]) -> tuple[int, int, int]:
    return invoice["subtotal"], invoice["tax"], invoice["total"]


async def plans(api: Api, market: str) -> dict[str, Any]:
    body: dict[str, Any] = await api.ok("GET", "/v1/plans", market=market)
    return body


@pytest.mark.parametrize(
    ("market", "currency", "inclusive", "rate", "price", "subtotal", "tax", "total"),
    MONTHLY_AMOUNTS,
    ids=[row[0] for row in MONTHLY_AMOUNTS],
)
async def test_monthly_invoice_amounts_per_market(
    api: Api,
    market: str,
    currency: str,
    inclusive: bool,
    rate: str,
    price: int,
    subtotal: int,
    tax: int,
    total: int,
) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock, market=market)
    sub = await api.subscribe(customer)
    assert sub["market"] == market
    assert sub["price"] == {"amount": price, "currency": currency}

    await api.advance(clock, RENEWAL)
    invoices = sorted(await api.invoices(customer), key=lambda row: row["period_start"])
    assert [row["billing_reason"] for row in invoices] == [
        "subscription_create",
        "subscription_cycle",
    ]
    for invoice in invoices:
        assert invoice["status"] == "paid"
        assert invoice["currency"] == currency
        assert (invoice["tax_inclusive"], invoice["tax_rate"]) == (inclusive, rate)
        assert amounts(invoice) == (subtotal, tax, total)
        assert invoice["amount_paid"] == total
        [line] = invoice["lines"]
        assert (line["amount"], line["net"], line["tax"], line["total"]) == (
            price,
            subtotal,
            tax,
            total,
        )
    [paid, *_] = await api.events(customer=customer, type="invoice.paid")
    assert (paid["data"]["currency"], paid["data"]["total"]) == (currency, total)


async def test_an_annual_gb_invoice_rounds_half_up_on_the_whole_price(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock, market="GB")
    sub = await api.subscribe(customer, plan="premium_individual_annual")
    assert sub["current_period_end"] == "2026-01-15T09:00:00Z"
    [invoice] = await api.invoices(customer)
    # 11900 / 6 = 1983.33... -> 1983; 11900 - 1983 = 9917
    assert amounts(invoice) == (9917, 1983, 11900)
    assert invoice["tax_name"] == "VAT"


async def test_plans_in_japan_are_priced_in_whole_yen(api: Api) -> None:
    body = await plans(api, "jp")
    assert (body["market"], body["currency"]) == ("JP", "JPY")
    prices = {plan["id"]: plan["price"]["amount"] for plan in body["data"]}
    assert prices == {
        "premium_duo_annual": 14000,
        "premium_duo_monthly": 1400,
        "premium_family_annual": 17300,
        "premium_family_monthly": 1730,
        "premium_individual_annual": 10800,
        "premium_individual_monthly": 1080,
        "premium_student_annual": 5800,
        "premium_student_monthly": 580,
    }
    for plan in body["data"]:
        amount = plan["price"]["amount"]
        assert isinstance(amount, int) and not isinstance(amount, bool)
        assert plan["price"]["currency"] == "JPY"
        assert (plan["tax_inclusive"], plan["tax_rate"]) == (True, "10")
    monthly = next(p for p in body["data"] if p["id"] == "premium_individual_monthly")
    assert (monthly["interval"], monthly["interval_count"], monthly["trial_days"]) == (
        "month",
        1,
        30,
    )
    annual = next(p for p in body["data"] if p["id"] == "premium_individual_annual")
    assert (annual["interval"], annual["trial_days"]) == ("year", 0)


async def test_plans_in_other_markets_use_their_currency_minor_units(api: Api) -> None:
    expected = {
        "KW": ("KWD", 1500, 15000, True, "0"),
        "SE": ("SEK", 12900, 129000, True, "25"),
        "US": ("USD", 1199, 11900, False, "7.25"),
    }
    for market, (currency, monthly, annual, inclusive, rate) in expected.items():
        body = await plans(api, market)
        assert body["currency"] == currency
        prices = {plan["id"]: plan["price"] for plan in body["data"]}
        assert prices["premium_individual_monthly"] == {"amount": monthly, "currency": currency}
        assert prices["premium_individual_annual"] == {"amount": annual, "currency": currency}
        assert {(p["tax_inclusive"], p["tax_rate"]) for p in body["data"]} == {(inclusive, rate)}


async def test_plans_need_a_known_market(api: Api) -> None:
    missing = await api.get("/v1/plans")
    assert (missing.status_code, missing.json()["code"]) == (422, "market_required")
    unknown = await api.get("/v1/plans", market="XX")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_market")


async def test_an_annual_plan_anchored_on_a_leap_day_clamps_to_feb_28_then_returns(
    api: Api,
) -> None:
    clock = await api.clock("2024-02-29T12:00:00Z")
    customer = await api.customer(clock)
    sub = await api.subscribe(customer, plan="premium_individual_annual")
    assert sub["billing_anchor"] == "2024-02-29T12:00:00Z"
    assert sub["current_period_end"] == "2025-02-28T12:00:00Z"

    await api.advance(clock, "2028-02-29T12:00:00Z")
    invoices = sorted(await api.invoices(customer), key=lambda row: row["period_start"])
    assert [(row["period_start"], row["period_end"]) for row in invoices] == [
        ("2024-02-29T12:00:00Z", "2025-02-28T12:00:00Z"),
        ("2025-02-28T12:00:00Z", "2026-02-28T12:00:00Z"),
        ("2026-02-28T12:00:00Z", "2027-02-28T12:00:00Z"),
        ("2027-02-28T12:00:00Z", "2028-02-29T12:00:00Z"),
        ("2028-02-29T12:00:00Z", "2029-02-28T12:00:00Z"),
    ]
    # 129000 * 0.25 / 1.25 = 25800 exactly
    assert {amounts(row) for row in invoices} == {(103200, 25800, 129000)}
    assert {row["status"] for row in invoices} == {"paid"}

    renewed = await api.events(subscription=sub["id"], type="subscription.renewed")
    assert [event["created"] for event in renewed] == [
        "2025-02-28T12:00:00Z",
        "2026-02-28T12:00:00Z",
        "2027-02-28T12:00:00Z",
        "2028-02-29T12:00:00Z",
    ]
    now = await api.subscription(sub["id"])
    assert now["billing_anchor"] == "2024-02-29T12:00:00Z"
    assert (now["current_period_start"], now["current_period_end"]) == (
        "2028-02-29T12:00:00Z",
        "2029-02-28T12:00:00Z",
    )
