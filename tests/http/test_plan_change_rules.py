"""Plan-change refusals, and a property: whatever sequence of changes, cancels and
reactivations a customer makes, Tenure bills each period once and never loses credit."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api import Api

PLANS = [
    "premium_individual_monthly",
    "premium_duo_monthly",
    "premium_family_monthly",
    "premium_student_monthly",
    "premium_individual_annual",
]


async def _sub(api: Api) -> tuple[str, str, dict[str, Any]]:
    clock = await api.clock("2025-03-01T12:00:00Z")
    customer = await api.customer(clock)
    return clock, customer, await api.subscribe(customer)


async def test_refusals_change_nothing(api: Api) -> None:
    _, customer, sub = await _sub(api)
    path = f"/v1/subscriptions/{sub['id']}/change"
    cases = [
        ({"plan": "premium_individual_monthly"}, 409, "plan_unchanged"),
        ({"plan": "premium_nope"}, 422, "unknown_plan"),
        ({"plan": "premium_family_monthly", "at": "tomorrow"}, 422, "invalid_change_timing"),
    ]
    for body, status, code in cases:
        for suffix in ("", "_preview"):
            response = await api.post(path + suffix, body)
            assert (response.status_code, response.json()["code"]) == (status, code), body
    await api.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": False})
    ended = await api.post(path, {"plan": "premium_family_monthly"})
    assert (ended.status_code, ended.json()["code"]) == (409, "subscription_not_active")
    after = await api.subscription(sub["id"])
    assert (after["plan"], after["status"]) == ("premium_individual_monthly", "canceled")
    assert len(await api.invoices(customer)) == 1


STEP = st.one_of(
    st.tuples(st.just("change"), st.sampled_from(PLANS)),
    st.tuples(st.just("cancel"), st.just("")),
    st.tuples(st.just("reactivate"), st.just("")),
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(st.tuples(st.integers(1, 40), STEP), min_size=1, max_size=6))
async def test_random_lifecycles_bill_each_period_once(
    api: Api, steps: list[tuple[int, tuple[str, str]]]
) -> None:
    clock, customer, sub = await _sub(api)
    day = 0
    for gap, (action, plan) in steps:
        day += gap
        await api.advance(clock, f"2025-{3 + day // 28:02d}-{1 + day % 28:02d}T12:00:00Z")
        path = f"/v1/subscriptions/{sub['id']}"
        if action == "change":
            await api.post(f"{path}/change", {"plan": plan})
        elif action == "cancel":
            await api.post(f"{path}/cancel", {"at_period_end": True})
        else:
            await api.post(f"{path}/reactivate")
    invoices = await api.invoices(customer)
    periods = [
        (i["period_start"], i["billing_reason"])
        for i in invoices
        if i["billing_reason"] != "subscription_update"
    ]
    assert len(periods) == len(set(periods)), "a period was billed twice"
    for invoice in invoices:
        assert invoice["credit_applied"] >= 0
        assert invoice["amount_paid"] + invoice["credit_applied"] <= max(invoice["total"], 0)
    balance = (await api.ok("GET", f"/v1/customers/{customer}"))["balance"]
    assert balance["amount"] >= 0
    banked = sum(i["credited_to_balance"] for i in invoices)
    used = sum(i["credit_applied"] for i in invoices)
    assert balance["amount"] == banked - used  # credit is never lost nor created
