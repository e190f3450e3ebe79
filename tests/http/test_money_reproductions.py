"""The two overcharge reproductions from issue 9, through the API, with the exact numbers.

When credit pays part of an invoice, every later charge path (the first attempt, a dunning
retry, a new default card, a manual pay) charges only what is still owed, the invoice records
the cash captured (never the credit) as ``amount_paid``, and a refund can return at most that
cash.
"""

from __future__ import annotations

from typing import Any

from tests.support.api import Api


async def _renewal(api: Api, customer: str) -> dict[str, Any]:
    renewals = [
        i for i in await api.invoices(customer) if i["billing_reason"] == "subscription_cycle"
    ]
    assert renewals, "no renewal invoice"
    return renewals[-1]


async def test_reproduction_1_credit_then_refund_bounded_by_cash(api: Api) -> None:
    # Annual Premium Individual from 2025-01-31, changed to monthly on 2025-12-01: the unused
    # part of the year becomes credit, and the renewal on 2026-01-01 uses it first.
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = await api.subscribe(customer, plan="premium_individual_annual")
    await api.advance(clock, "2025-12-01T10:00:00Z")
    await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}/change", {"plan": "premium_individual_monthly"}
    )
    await api.advance(clock, "2026-01-02T10:00:00Z")
    renewal = await _renewal(api, customer)
    assert renewal["total"] == 12900
    assert renewal["credit_applied"] == 8659
    assert renewal["amount_paid"] == 4241  # the cash the card paid, not the total
    assert renewal["status"] == "paid"
    assert renewal["amount_due"] == 0

    too_much = await api.post(
        f"/v1/invoices/{renewal['id']}/refund", {"amount": 5000, "reason": "goodwill"}
    )
    assert (too_much.status_code, too_much.json()["code"]) == (422, "refund_exceeds_paid")
    assert too_much.json()["refundable"] == 4241
    just_over = await api.post(
        f"/v1/invoices/{renewal['id']}/refund", {"amount": 4242, "reason": "goodwill"}
    )
    assert (just_over.status_code, just_over.json()["code"]) == (422, "refund_exceeds_paid")
    unchanged = await api.ok("GET", f"/v1/invoices/{renewal['id']}")
    assert unchanged["credit_notes"] == []  # a refused refund records nothing

    balance_before = (await api.ok("GET", f"/v1/customers/{customer}"))["balance"]["amount"]
    full = await api.post(f"/v1/invoices/{renewal['id']}/refund", {"reason": "customer left"})
    assert full.status_code == 201, full.text
    assert (full.json()["amount"], full.json()["status"]) == (4241, "succeeded")
    # The whole cash went back to the card, so the credit the invoice used returns to the
    # balance: the customer is made whole for this invoice.
    assert full.json()["credit_returned"] == 8659
    after = await api.ok("GET", f"/v1/invoices/{renewal['id']}")
    assert after["amount_refunded"] == 4241
    balance_after = (await api.ok("GET", f"/v1/customers/{customer}"))["balance"]["amount"]
    assert balance_after == balance_before + 8659


async def test_reproduction_2_dunning_retry_charges_only_what_is_owed(api: Api) -> None:
    # Annual from 2025-01-31 (the card pays its first invoice, then declines a renewal's first
    # attempt softly and pays the retry), changed to monthly on 2025-11-20: 12547 of credit.
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = await api.subscribe(
        customer, plan="premium_individual_annual", payment_method="pm_card_recovers_on_retry"
    )
    await api.advance(clock, "2025-11-20T10:00:00Z")
    await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}/change", {"plan": "premium_individual_monthly"}
    )
    credit = (await api.ok("GET", f"/v1/customers/{customer}"))["balance"]["amount"]
    assert credit == 12547
    await api.advance(clock, "2025-12-20T11:00:00Z")
    renewal = await _renewal(api, customer)
    assert renewal["status"] == "open"
    assert renewal["credit_applied"] == 12547
    assert renewal["amount_due"] == 353
    assert renewal["amount_paid"] == 0
    assert (await api.subscription(sub["id"]))["status"] == "past_due"

    await api.advance(clock, "2025-12-21T11:00:00Z")  # the +1 day retry
    renewal = await api.ok("GET", f"/v1/invoices/{renewal['id']}")
    assert (renewal["status"], renewal["amount_paid"], renewal["amount_due"]) == ("paid", 353, 0)
    assert renewal["credit_applied"] + renewal["amount_paid"] == renewal["total"]
    payments = await api.ok("GET", f"/v1/invoices/{renewal['id']}/payments")
    assert [(p["attempt_number"], p["amount"], p["status"]) for p in payments["data"]] == [
        (1, 353, "failed"),
        (2, 353, "succeeded"),
    ]
    assert (await api.subscription(sub["id"]))["status"] == "active"
    # The customer's balance is exactly what was banked less what was used.
    assert (await api.ok("GET", f"/v1/customers/{customer}"))["balance"]["amount"] == 0


async def test_new_default_card_in_dunning_charges_only_what_is_owed(api: Api) -> None:
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = await api.subscribe(customer, plan="premium_individual_annual")
    await api.advance(clock, "2025-11-20T10:00:00Z")
    await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}/change", {"plan": "premium_individual_monthly"}
    )
    await api.ok(
        "POST",
        f"/v1/customers/{customer}/payment_methods",
        {"payment_method": "pm_card_declined", "default": True},
    )
    await api.advance(clock, "2025-12-20T11:00:00Z")
    renewal = await _renewal(api, customer)
    assert (renewal["status"], renewal["amount_due"]) == ("open", 353)
    await api.ok(
        "POST",
        f"/v1/customers/{customer}/payment_methods",
        {"payment_method": "pm_card_visa", "default": True},
    )
    renewal = await api.ok("GET", f"/v1/invoices/{renewal['id']}")
    assert (renewal["status"], renewal["amount_paid"]) == ("paid", 353)
    payments = await api.ok("GET", f"/v1/invoices/{renewal['id']}/payments")
    assert [(p["amount"], p["status"]) for p in payments["data"]] == [
        (353, "failed"),
        (353, "succeeded"),
    ]


async def test_manual_pay_of_a_credit_reduced_invoice_charges_what_is_owed(api: Api) -> None:
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = await api.subscribe(customer, plan="premium_individual_annual")
    await api.advance(clock, "2025-11-20T10:00:00Z")
    await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}/change", {"plan": "premium_individual_monthly"}
    )
    await api.ok(
        "POST",
        f"/v1/customers/{customer}/payment_methods",
        {"payment_method": "pm_card_expired", "default": True},
    )
    await api.advance(clock, "2025-12-20T11:00:00Z")
    renewal = await _renewal(api, customer)
    paid = await api.ok(
        "POST", f"/v1/invoices/{renewal['id']}/pay", {"payment_method": "pm_card_visa"}
    )
    assert (paid["status"], paid["amount_paid"], paid["credit_applied"]) == ("paid", 353, 12547)


async def test_voiding_an_unpaid_renewal_forgives_the_period(api: Api) -> None:
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = await api.subscribe(customer, payment_method="pm_card_fails_after_first")
    await api.advance(clock, "2025-02-28T11:00:00Z")
    renewal = await _renewal(api, customer)
    assert (await api.subscription(sub["id"]))["status"] == "past_due"
    voided = await api.ok("POST", f"/v1/invoices/{renewal['id']}/void", {})
    assert (voided["status"], voided["amount_due"]) == ("void", 0)
    after = await api.subscription(sub["id"])
    assert after["status"] == "active"
    assert after["current_period_end"] == "2025-03-31T10:00:00Z"  # the period is given
    [recovered] = await api.events(type="subscription.recovered", subscription=sub["id"])
    assert recovered["data"]["recovery"] == "waived"
    assert [e["type"] for e in await api.events(subscription=sub["id"])][-2:] == [
        "invoice.voided",
        "subscription.recovered",
    ]
    again = await api.post(f"/v1/invoices/{renewal['id']}/void", {})
    assert (again.status_code, again.json()["code"]) == (409, "invoice_not_open")
    paid = await api.post(f"/v1/invoices/{sub['latest_invoice']}/void", {})
    assert (paid.status_code, paid.json()["code"]) == (409, "invoice_not_open")


async def test_voiding_the_first_invoice_ends_an_incomplete_subscription(api: Api) -> None:
    customer = await api.customer()
    sub = await api.subscribe(customer, payment_method="pm_card_declined")
    assert sub["status"] == "incomplete"
    await api.ok("POST", f"/v1/invoices/{sub['latest_invoice']}/void", {})
    ended = await api.subscription(sub["id"])
    assert (ended["status"], ended["ended_reason"]) == ("canceled", "invoice_voided")
    # The customer can subscribe again at once.
    again = await api.subscribe(customer)
    assert again["status"] == "active"
