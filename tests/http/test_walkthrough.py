"""The README walkthrough as a test: a year of renewals, then cancel and fall back to Free."""

from __future__ import annotations

import re

from tests.support.api import Api


async def test_a_year_of_monthly_renewals_then_cancel_at_period_end(api: Api) -> None:
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = await api.subscribe(customer)
    assert sub["status"] == "active"
    assert sub["current_period_end"] == "2025-02-28T10:00:00Z"

    await api.advance(clock, "2026-01-31T10:00:00Z")

    invoices = await api.invoices(customer)
    # Anchor on the 31st: Feb 28, Mar 31, Apr 30, ... the anchor day never drifts.
    starts = sorted(invoice["period_start"][:10] for invoice in invoices)
    assert starts == [
        "2025-01-31",
        "2025-02-28",
        "2025-03-31",
        "2025-04-30",
        "2025-05-31",
        "2025-06-30",
        "2025-07-31",
        "2025-08-31",
        "2025-09-30",
        "2025-10-31",
        "2025-11-30",
        "2025-12-31",
        "2026-01-31",
    ]
    assert {invoice["status"] for invoice in invoices} == {"paid"}
    # SE: 129.00 SEK including 25 % VAT -> net 103.20, tax 25.80.
    assert {(i["total"], i["subtotal"], i["tax"]) for i in invoices} == {(12900, 10320, 2580)}

    canceled = await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": True}
    )
    assert canceled["cancel_at_period_end"] is True
    assert canceled["status"] == "active"
    ent = await api.ok("GET", f"/v1/customers/{customer}/entitlements")
    assert ent["product"] == "premium_individual"

    await api.advance(clock, "2026-03-01T10:00:00Z")
    ended = await api.subscription(sub["id"])
    assert ended["status"] == "expired"
    assert ended["ended_at"] == "2026-02-28T10:00:00Z"
    ent = await api.ok("GET", f"/v1/customers/{customer}/entitlements")
    assert ent["product"] == "free"
    assert "ad_free" not in ent["features"]
    assert len(await api.invoices(customer)) == 13  # nothing billed after the cancel

    types = [event["type"] for event in await api.events(subscription=sub["id"])]
    assert types.count("subscription.renewed") == 12
    assert types[-2:] == ["subscription.canceled", "subscription.expired"]
    sequences = [event["sequence"] for event in await api.events(subscription=sub["id"])]
    assert sequences == list(range(1, len(sequences) + 1))


async def test_metrics_count_requests_by_route_template(api: Api) -> None:
    customer = await api.customer()
    await api.ok("GET", f"/v1/customers/{customer}")
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert any(route.startswith("/v1/customers/{customer_id") for route in routes), routes
    assert customer not in text  # ids never become labels
    assert "tenure_http_request_duration_seconds_bucket" in text
