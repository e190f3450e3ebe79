"""Refunds with credit notes, and credit balances that are kept and used first."""

from __future__ import annotations

from tests.support.api import Api


async def _paid_invoice(api: Api, market: str = "SE") -> tuple[str, str, dict[str, object]]:
    clock = await api.clock("2025-03-01T12:00:00Z")
    customer = await api.customer(clock, market=market)
    sub = await api.subscribe(customer)
    return clock, customer, await api.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")


async def test_partial_then_full_refund_and_never_more_than_paid(api: Api) -> None:
    _, _, invoice = await _paid_invoice(api)
    first = await api.post(
        f"/v1/invoices/{invoice['id']}/refund",
        {"amount": 2900, "reason": "goodwill: outage on 3 March"},
    )
    assert first.status_code == 201
    assert first.json()["status"] == "succeeded"
    assert first.json()["amount"] == 2900
    too_much = await api.post(
        f"/v1/invoices/{invoice['id']}/refund", {"amount": 10001, "reason": "oops"}
    )
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "refund_exceeds_paid"
    assert too_much.json()["refundable"] == 10000
    rest = await api.post(f"/v1/invoices/{invoice['id']}/refund", {"reason": "customer left"})
    assert rest.json()["amount"] == 10000
    after = await api.ok("GET", f"/v1/invoices/{invoice['id']}")
    assert after["amount_refunded"] == 12900
    assert [note["amount"] for note in after["credit_notes"]] == [2900, 10000]
    nothing = await api.post(f"/v1/invoices/{invoice['id']}/refund", {"reason": "again"})
    assert nothing.status_code == 422
    refunded = await api.events(type="invoice.refunded")
    assert [event["data"]["refund_amount"] for event in refunded] == [2900, 10000]


async def test_refund_needs_a_reason_and_a_paid_invoice(api: Api) -> None:
    _, customer, invoice = await _paid_invoice(api)
    response = await api.post(f"/v1/invoices/{invoice['id']}/refund", {"reason": "  "})
    assert response.json()["code"] == "refund_reason_required"
    declined = await api.subscribe(await api.customer(), payment_method="pm_card_declined")
    response = await api.post(f"/v1/invoices/{declined['latest_invoice']}/refund", {"reason": "x"})
    assert (response.status_code, response.json()["code"]) == (409, "invoice_not_paid")
    assert customer


async def test_downgrade_by_interval_banks_the_credit_and_uses_it_first(api: Api) -> None:
    # Annual Individual 1290.00 SEK paid on Mar 1; on Mar 2 switch to monthly: the unused
    # 364/365 of the year (1286.47 -> 128647) minus one month (129.00) leaves 1157.47 of credit.
    clock = await api.clock("2025-03-01T12:00:00Z")
    customer = await api.customer(clock)
    sub = await api.subscribe(customer, plan="premium_individual_annual")
    await api.advance(clock, "2025-03-02T12:00:00Z")
    changed = await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}/change", {"plan": "premium_individual_monthly"}
    )
    invoice = await api.ok("GET", f"/v1/invoices/{changed['latest_invoice']}")
    credit = -invoice["total"]
    assert credit > 0
    assert invoice["credited_to_balance"] == credit
    assert invoice["status"] == "paid"
    balance = (await api.ok("GET", f"/v1/customers/{customer}"))["balance"]
    assert balance == {"amount": credit, "currency": "SEK"}

    # The next monthly renewals are paid from the balance until it runs out; no card charge.
    await api.advance(clock, "2025-04-02T12:00:00Z")
    renewal = [
        i for i in await api.invoices(customer) if i["billing_reason"] == "subscription_cycle"
    ]
    assert renewal[0]["credit_applied"] == 12900
    assert renewal[0]["amount_paid"] == 0
    assert renewal[0]["status"] == "paid"
    balance = (await api.ok("GET", f"/v1/customers/{customer}"))["balance"]
    assert balance["amount"] == credit - 12900
