"""Issue 12, billing day: billing_anchor on subscribe, the first-period rule, the customer's
billing day, and interval changes that keep the billing day (``anchor = "keep"``).

Premium Individual monthly in SE is 129.00 SEK (12900, 25 % VAT included), annual 1290.00
(129000). These are the numbers of docs/billing.md#billing-day.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.http.test_trials import assert_problem
from tests.support.api import Api
from tests.support.catalogs import api_with_catalog, variant

MONTHLY, ANNUAL = "premium_individual_monthly", "premium_individual_annual"


async def subscribe(api: Api, customer: str, **extra: Any) -> dict[str, Any]:
    body = {"customer": customer, "plan": MONTHLY, "payment_method": "pm_card_visa", **extra}
    result: dict[str, Any] = await api.ok("POST", "/v1/subscriptions", body)
    return result


async def test_an_anchor_on_the_1st_prorates_the_first_period_by_whole_days(api: Api) -> None:
    clock = await api.clock("2025-03-10T12:00:00Z")
    customer = await api.customer(clock)
    sub = await subscribe(api, customer, billing_anchor=1)
    assert (sub["status"], sub["billing_anchor"]) == ("active", "2025-03-01T00:00:00Z")
    assert (sub["current_period_start"], sub["current_period_end"]) == (
        "2025-03-10T12:00:00Z",
        "2025-04-01T00:00:00Z",
    )
    [first] = await api.invoices(customer)
    # 22 of March's 31 days are left (the 10th counts as used): 12900 x 22/31 = 9154.84.
    assert (first["total"], first["tax"], first["status"]) == (9155, 1831, "paid")
    assert (first["period_start"], first["period_end"]) == (
        "2025-03-10T12:00:00Z",
        "2025-04-01T00:00:00Z",
    )
    assert first["lines"][0]["description"].endswith(
        "2025-03-10 to 2025-04-01 (to the billing day)"
    )

    await api.advance(clock, "2025-05-01T00:00:00Z")
    invoices = sorted(await api.invoices(customer), key=lambda row: row["period_start"])
    assert [(row["period_start"], row["period_end"], row["total"]) for row in invoices] == [
        ("2025-03-10T12:00:00Z", "2025-04-01T00:00:00Z", 9155),
        ("2025-04-01T00:00:00Z", "2025-05-01T00:00:00Z", 12900),
        ("2025-05-01T00:00:00Z", "2025-06-01T00:00:00Z", 12900),
    ]


async def test_a_timestamp_anchor_starts_the_first_full_period_then(api: Api) -> None:
    clock = await api.clock("2025-03-10T12:00:00Z")
    customer = await api.customer(clock)
    sub = await subscribe(api, customer, billing_anchor="2025-03-15T00:00:00Z")
    assert (sub["billing_anchor"], sub["current_period_end"]) == (
        "2025-03-15T00:00:00Z",
        "2025-03-15T00:00:00Z",
    )
    [first] = await api.invoices(customer)
    # 5 of the 28 days from Feb 15 to Mar 15: 12900 x 5/28 = 2303.57.
    assert first["total"] == 2304
    await api.advance(clock, "2025-03-15T00:00:00Z")
    renewal = max(await api.invoices(customer), key=lambda row: row["period_start"])
    assert (renewal["period_end"], renewal["total"]) == ("2025-04-15T00:00:00Z", 12900)


async def test_the_free_first_period_rule_charges_nothing_until_the_billing_day(
    database_url: str, tmp_path: Path
) -> None:
    path = variant(
        tmp_path,
        replace=(
            "[lifecycle]\ntrial_requires_payment_method = true\n",
            '[lifecycle]\ntrial_requires_payment_method = true\nfirst_period = "free"\n',
        ),
    )
    async with api_with_catalog(database_url, path) as api:
        clock = await api.clock("2025-03-10T12:00:00Z")
        customer = await api.customer(clock)
        sub = await subscribe(api, customer, billing_anchor=1)
        assert (sub["status"], sub["current_period_end"]) == ("active", "2025-04-01T00:00:00Z")
        [first] = await api.invoices(customer)
        assert (first["total"], first["status"], first["amount_paid"]) == (0, "paid", 0)
        assert first["lines"][0]["description"].endswith("free until 2025-04-01")
        await api.advance(clock, "2025-04-01T00:00:00Z")
        renewal = max(await api.invoices(customer), key=lambda row: row["period_start"])
        assert (renewal["total"], renewal["status"]) == (12900, "paid")


async def test_a_customers_billing_day_anchors_their_new_subscriptions(api: Api) -> None:
    clock = await api.clock("2025-03-10T12:00:00Z")
    body = {
        "external_id": "billing-day-1",
        "email": "bcd@example.com",
        "market": "SE",
        "test_clock": clock,
        "billing_day": 1,
    }
    created = await api.ok("POST", "/v1/customers", body)
    assert created["billing_day"] == 1
    sub = await subscribe(api, created["id"])
    assert sub["current_period_end"] == "2025-04-01T00:00:00Z"
    assert (await api.invoices(created["id"]))[0]["total"] == 9155

    # 0 clears it (subscriptions keep their anchor); 32 is refused, changing nothing.
    bad = await api.post(f"/v1/customers/{created['id']}", {"billing_day": 32})
    assert_problem(bad, 422, "invalid_billing_day")
    cleared = await api.ok("POST", f"/v1/customers/{created['id']}", {"billing_day": 0})
    assert cleared["billing_day"] is None
    [updated] = await api.events(customer=created["id"], type="customer.updated")
    assert updated["data"]["changed"] == ["billing_day"]
    refused = await api.post("/v1/customers", {**body, "external_id": "bcd-2", "billing_day": 0})
    assert_problem(refused, 422, "invalid_billing_day")


async def test_bad_anchors_are_refused_and_create_nothing(api: Api) -> None:
    clock = await api.clock("2025-03-10T12:00:00Z")
    customer = await api.customer(clock)
    for anchor, code in (
        (0, "invalid_billing_anchor"),
        (32, "invalid_billing_anchor"),
        ("2025-03-10T12:00:00Z", "invalid_billing_anchor"),  # not after now
        ("2025-04-10T12:00:01Z", "invalid_billing_anchor"),  # more than one period away
        ("next tuesday", "invalid_timestamp"),
    ):
        body = {"customer": customer, "plan": MONTHLY, "payment_method": "pm_card_visa"}
        response = await api.post("/v1/subscriptions", {**body, "billing_anchor": anchor})
        assert_problem(response, 422, code)
    trial = {"customer": customer, "plan": MONTHLY, "payment_method": "pm_card_visa"}
    response = await api.post("/v1/subscriptions", {**trial, "trial": True, "billing_anchor": 1})
    assert_problem(response, 422, "billing_anchor_not_combinable")
    assert (await api.ok("GET", "/v1/subscriptions", customer=customer))["data"] == []
    assert await api.invoices(customer) == []


KEEP = f"""
[[change_policies]]
from = "{MONTHLY}"
to = "{ANNUAL}"
anchor = "keep"
"""


async def test_a_monthly_to_annual_change_that_keeps_the_billing_day_charges_up_to_it(
    database_url: str, tmp_path: Path
) -> None:
    async with api_with_catalog(database_url, variant(tmp_path, append=KEEP)) as api:
        clock = await api.clock("2025-04-01T00:00:00Z")
        customer = await api.customer(clock)
        sub = await subscribe(api, customer)
        await api.advance(clock, "2025-05-12T00:00:00Z")

        preview = await api.ok(
            "POST", f"/v1/subscriptions/{sub['id']}/change_preview", {"plan": ANNUAL}
        )
        # Unused: 20 of May's 31 days of the monthly plan; the annual plan up to 2026-05-01,
        # 354 of the 365 days from 2025-05-01.
        assert [line["amount"] for line in preview["lines"]] == [-8323, 125112]
        assert (preview["total"], preview["amount_due"]) == (116789, 116789)
        assert preview["new_period"] == {
            "start": "2025-05-12T00:00:00Z",
            "end": "2026-05-01T00:00:00Z",
        }

        changed = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/change", {"plan": ANNUAL})
        assert (changed["plan"], changed["billing_anchor"]) == (ANNUAL, "2025-05-01T00:00:00Z")
        assert (changed["current_period_start"], changed["current_period_end"]) == (
            "2025-05-12T00:00:00Z",
            "2026-05-01T00:00:00Z",
        )
        invoice = await api.ok("GET", f"/v1/invoices/{changed['latest_invoice']}")
        assert [line["amount"] for line in invoice["lines"]] == [-8323, 125112]
        assert (invoice["total"], invoice["amount_paid"]) == (preview["total"], 116789)

        await api.advance(clock, "2026-05-01T00:00:00Z")
        renewal = max(await api.invoices(customer), key=lambda row: row["period_start"])
        assert (renewal["period_start"], renewal["period_end"], renewal["total"]) == (
            "2026-05-01T00:00:00Z",
            "2027-05-01T00:00:00Z",
            129000,
        )


async def test_without_a_policy_an_interval_change_resets_the_billing_day(api: Api) -> None:
    clock = await api.clock("2025-04-01T00:00:00Z")
    customer = await api.customer(clock)
    sub = await subscribe(api, customer)
    await api.advance(clock, "2025-05-12T00:00:00Z")
    changed = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/change", {"plan": ANNUAL})
    assert (changed["billing_anchor"], changed["current_period_end"]) == (
        "2025-05-12T00:00:00Z",
        "2026-05-12T00:00:00Z",
    )
    invoice = await api.ok("GET", f"/v1/invoices/{changed['latest_invoice']}")
    assert [line["amount"] for line in invoice["lines"]] == [-8323, 129000]
