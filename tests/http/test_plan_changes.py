"""Plan changes: preview equals charge, exact proration by whole UTC days, scheduled downgrades.

Worked numbers (SE, prices include 25 % VAT; Individual 129.00, Family 209.00 SEK/month):
subscribed 2025-03-01, period Mar 1 -> Apr 1 (31 days); change on Mar 11 -> 21 unused days.
credit  = -round_half_up(12900 * 21/31) = -round_half_up(8738.70) = -8739
charge  =  round_half_up(20900 * 21/31) =  round_half_up(14158.06) = 14158
total   = 5419; tax = round_half_up(5419 * 0.2) per line: -1748 + 2832 = 1084
"""

from __future__ import annotations

from typing import Any

from tests.support.api import Api


async def _active(
    api: Api,
    *,
    plan: str = "premium_individual_monthly",
    card: str = "pm_card_visa",
    market: str = "SE",
) -> tuple[str, str, dict[str, Any]]:
    clock = await api.clock("2025-03-01T12:00:00Z")
    customer = await api.customer(clock, market=market)
    sub = await api.subscribe(customer, plan=plan, payment_method=card)
    return clock, customer, sub


async def test_upgrade_charges_exactly_the_preview_and_keeps_the_period(api: Api) -> None:
    clock, customer, sub = await _active(api)
    await api.advance(clock, "2025-03-11T08:00:00Z")
    body = {"plan": "premium_family_monthly"}
    preview = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/change_preview", body)
    assert preview["change_type"] == "upgrade"
    assert preview["timing"] == "now"
    assert [line["amount"] for line in preview["lines"]] == [-8739, 14158]
    assert preview["total"] == 5419
    assert preview["amount_due"] == 5419
    assert preview["tax"] == -1748 + 2832

    changed = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/change", body)
    assert changed["plan"] == "premium_family_monthly"
    assert changed["price"] == {"amount": 20900, "currency": "SEK"}
    assert changed["current_period_start"] == sub["current_period_start"]
    assert changed["current_period_end"] == sub["current_period_end"]
    invoice = await api.ok("GET", f"/v1/invoices/{changed['latest_invoice']}")
    assert invoice["status"] == "paid"
    assert invoice["total"] == preview["total"]
    assert invoice["amount_paid"] == preview["amount_due"]
    assert [line["amount"] for line in invoice["lines"]] == [-8739, 14158]

    await api.advance(clock, "2025-04-01T12:00:00Z")
    renewal = [
        i for i in await api.invoices(customer) if i["billing_reason"] == "subscription_cycle"
    ]
    assert [i["total"] for i in renewal] == [20900]


async def test_declined_upgrade_changes_nothing_and_answers_402(api: Api) -> None:
    clock, _, sub = await _active(api, card="pm_card_fails_after_first")
    await api.advance(clock, "2025-03-11T08:00:00Z")
    response = await api.post(
        f"/v1/subscriptions/{sub['id']}/change", {"plan": "premium_family_monthly"}
    )
    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_funds"
    after = await api.subscription(sub["id"])
    assert after["plan"] == "premium_individual_monthly"
    assert after["status"] == "active"
    invoice = await api.ok("GET", f"/v1/invoices/{response.json()['invoice']}")
    assert invoice["status"] == "void"


async def test_downgrade_waits_for_the_period_end_and_can_be_canceled(api: Api) -> None:
    clock, customer, sub = await _active(api, plan="premium_family_monthly")
    body = {"plan": "premium_individual_monthly"}
    preview = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/change_preview", body)
    assert (preview["change_type"], preview["timing"], preview["amount_due"]) == (
        "downgrade",
        "period_end",
        0,
    )
    changed = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/change", body)
    assert changed["plan"] == "premium_family_monthly"
    assert changed["pending_change"] == {
        "plan": "premium_individual_monthly",
        "effective_at": "2025-04-01T12:00:00Z",
    }
    await api.advance(clock, "2025-04-01T12:00:00Z")
    renewed = await api.subscription(sub["id"])
    assert renewed["plan"] == "premium_individual_monthly"
    assert renewed["pending_change"] is None
    cycle = [i for i in await api.invoices(customer) if i["billing_reason"] == "subscription_cycle"]
    assert [i["total"] for i in cycle] == [12900]

    # A scheduled change can be dropped before it applies.
    await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}/change", {"plan": "premium_student_monthly"}
    )
    response = await api.client.delete(
        f"/v1/subscriptions/{sub['id']}/pending_change",
        headers={"Authorization": "Bearer test-key"},
    )
    assert response.status_code == 200
    assert response.json()["pending_change"] is None


async def test_interval_change_starts_a_new_period_and_credits_the_unused_month(api: Api) -> None:
    # Individual monthly 129.00 -> annual 1290.00, on Mar 11: 21/31 of the month unused.
    clock, _, sub = await _active(api)
    await api.advance(clock, "2025-03-11T08:00:00Z")
    changed = await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}/change", {"plan": "premium_individual_annual"}
    )
    assert changed["current_period_start"] == "2025-03-11T08:00:00Z"
    assert changed["current_period_end"] == "2026-03-11T08:00:00Z"
    assert changed["billing_anchor"] == "2025-03-11T08:00:00Z"
    invoice = await api.ok("GET", f"/v1/invoices/{changed['latest_invoice']}")
    annual = invoice["lines"][1]["amount"]
    assert [line["amount"] for line in invoice["lines"]] == [-8739, annual]
    assert invoice["total"] == annual - 8739


# Individual -> Family on Mar 11 (21 of 31 days unused), worked per market:
# JP (JPY, 0 decimals, 10 % included): -round(1080*21/31 = 731.61) = -732; round(1730*21/31 =
#   1171.94) = 1172; tax -round(732/11 = 66.55) = -67 and round(1172/11 = 106.55) = 107.
# US (USD, 7.25 % added): -round(1199*21/31 = 812.23) = -812; round(1999*21/31 = 1354.16) =
#   1354; tax round(-812*0.0725 = -58.87) = -59 and round(1354*0.0725 = 98.165) = 98.
# KW (KWD, 3 decimals, 0 %): -round(1500*21/31 = 1016.13) = -1016; round(2400*21/31 = 1625.81)
#   = 1626.
CASES = {
    "JP": ([-732, 1172], 440, 40, 440),
    "US": ([-812, 1354], 542, 39, 581),
    "KW": ([-1016, 1626], 610, 0, 610),
}


async def _upgrade_in(api: Api, market: str) -> tuple[dict[str, Any], dict[str, Any]]:
    clock, _, sub = await _active(api, market=market)
    await api.advance(clock, "2025-03-11T08:00:00Z")
    body = {"plan": "premium_family_monthly"}
    preview = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/change_preview", body)
    changed = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/change", body)
    invoice = await api.ok("GET", f"/v1/invoices/{changed['latest_invoice']}")
    return preview, invoice


async def test_upgrade_amounts_are_exact_in_jpy_usd_and_kwd(api: Api) -> None:
    for market, (amounts, subtotal_before_tax, tax, total) in CASES.items():
        preview, invoice = await _upgrade_in(api, market)
        assert [line["amount"] for line in invoice["lines"]] == amounts, market
        assert sum(line["tax"] for line in invoice["lines"]) == tax, market
        assert invoice["tax"] == tax, market
        assert invoice["total"] == total, market
        assert sum(amounts) == subtotal_before_tax, market
        assert preview["total"] == invoice["total"], market
        assert preview["tax"] == invoice["tax"], market
        assert preview["amount_due"] == invoice["amount_paid"], market
