"""Issue 12, cancel now with credit: the catalog's ``cancel_now_credit`` per product and market
gives the unused part of a paid period back as balance credit (a credit-note invoice) or as a
refund through the provider. The numbers of docs/billing.md#cancel-now-with-credit.

Premium Individual monthly in SE (12900, 25 % VAT included) from 2025-03-01 12:00; canceled
now on 2025-03-11 08:00: 21 of the period's 31 days are unused, 12900 x 21/31 = 8738.71.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.http.test_lifecycle_check import assert_clean
from tests.http.test_trials import assert_problem
from tests.support.api import Api
from tests.support.catalogs import api_with_catalog, variant

START, CANCEL = "2025-03-01T12:00:00Z", "2025-03-11T08:00:00Z"


def policy(tmp_path: Path, value: str, product: str | None = "premium_individual") -> str:
    scope = f'product = "{product}"\n' if product else ""
    return variant(
        tmp_path,
        append=f"""
[lifecycle.overrides.se_cancel]
market = "SE"
{scope}cancel_now_credit = "{value}"
""",
    )


async def cancel_now(api: Api, sub: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await api.ok(
        "POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": False}
    )
    return result


async def balance_of(api: Api, customer: str) -> int:
    body = await api.ok("GET", f"/v1/customers/{customer}")
    return int(body["balance"]["amount"])


async def test_credit_puts_the_unused_part_on_the_balance_with_a_credit_note(
    database_url: str, tmp_path: Path
) -> None:
    async with api_with_catalog(database_url, policy(tmp_path, "credit")) as api:
        clock = await api.clock(START)
        customer = await api.customer(clock)
        sub = await api.subscribe(customer)
        await api.advance(clock, CANCEL)
        canceled = await cancel_now(api, sub)
        assert canceled["status"] == "canceled"
        invoices = await api.invoices(customer)
        [credit] = [row for row in invoices if row["billing_reason"] == "subscription_cancel"]
        assert [line["amount"] for line in credit["lines"]] == [-8739]
        assert (credit["total"], credit["tax"], credit["status"]) == (-8739, -1748, "paid")
        assert credit["credited_to_balance"] == 8739
        assert await balance_of(api, customer) == 8739
        # That time cannot also be refunded: only the rest of the cash is refundable.
        [paid] = [row for row in invoices if row["billing_reason"] == "subscription_create"]
        assert paid["credited_unused"] == 8739
        refund = await api.post(f"/v1/invoices/{paid['id']}/refund", {"reason": "goodwill"})
        assert refund.status_code == 201, refund.text
        assert refund.json()["amount"] == 12900 - 8739
        [event] = await api.events(subscription=sub["id"], type="subscription.canceled")
        assert (event["data"]["credited"], event["data"]["refunded"]) == (8739, 0)
        assert event["data"]["credit_invoice"] == credit["id"]

        # The credit pays the next subscription's first invoice first.
        again = await api.subscribe(customer)
        first = await api.ok("GET", f"/v1/invoices/{again['latest_invoice']}")
        assert (first["credit_applied"], first["amount_paid"]) == (8739, 12900 - 8739)
        await assert_clean(api)


async def test_refund_sends_the_unused_part_back_to_the_card(
    database_url: str, tmp_path: Path
) -> None:
    async with api_with_catalog(database_url, policy(tmp_path, "refund")) as api:
        clock = await api.clock(START)
        customer = await api.customer(clock)
        sub = await api.subscribe(customer)
        await api.advance(clock, CANCEL)
        await cancel_now(api, sub)
        [paid] = await api.invoices(customer)  # no credit-note invoice: all of it went back
        assert (paid["amount_paid"], paid["amount_refunded"]) == (12900, 8739)
        detail = await api.ok("GET", f"/v1/invoices/{paid['id']}")
        [note] = detail["credit_notes"]
        assert (note["amount"], note["status"], note["reason"]) == (
            8739,
            "succeeded",
            "canceled: unused time",
        )
        assert await balance_of(api, customer) == 0
        [event] = await api.events(subscription=sub["id"], type="subscription.canceled")
        assert (event["data"]["credited"], event["data"]["refunded"]) == (0, 8739)
        assert [e["type"] for e in await api.events(subscription=sub["id"])][-2:] == [
            "subscription.canceled",
            "invoice.refunded",
        ]
        await assert_clean(api)


async def test_by_default_cancel_now_gives_nothing_back_and_at_period_end_never_does(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    sub = await api.subscribe(customer)
    await api.advance(clock, CANCEL)
    await cancel_now(api, sub)
    assert len(await api.invoices(customer)) == 1
    assert await balance_of(api, customer) == 0

    async with api_with_catalog(database_url, policy(tmp_path, "credit")) as other:
        clock = await other.clock(START)
        customer = await other.customer(clock)
        sub = await other.subscribe(customer)
        await other.advance(clock, CANCEL)
        await other.ok("POST", f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": True})
        assert await balance_of(other, customer) == 0
        # A trial has nothing paid to give back; a second cancel is refused, changing nothing.
        again = await other.post(f"/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": True})
        assert_problem(again, 409, "subscription_already_canceling")
        assert len(await other.invoices(customer)) == 1


async def test_credit_after_an_upgrade_covers_both_invoices_of_the_period(
    database_url: str, tmp_path: Path
) -> None:
    async with api_with_catalog(database_url, policy(tmp_path, "credit", None)) as api:
        clock = await api.clock(START)
        customer = await api.customer(clock)
        sub = await api.subscribe(customer)
        await api.advance(clock, CANCEL)
        family = {"plan": "premium_family_monthly"}
        await api.ok("POST", f"/v1/subscriptions/{sub['id']}/change", family)
        await cancel_now(api, sub)
        # The period invoice's unused 21/31 (8739) and all of the upgrade's charge (5419, it
        # covered only the unused days): together what 21/31 of Premium Family is worth.
        [credit] = [
            row
            for row in await api.invoices(customer)
            if row["billing_reason"] == "subscription_cancel"
        ]
        assert [line["amount"] for line in credit["lines"]] == [-8739, -5419]
        assert await balance_of(api, customer) == 14158
        await assert_clean(api)


async def test_credit_on_an_extended_prepaid_subscription_covers_the_time_bought(
    database_url: str, tmp_path: Path
) -> None:
    path = variant(
        tmp_path,
        append="""
[lifecycle.overrides.in_cancel]
market = "IN"
cancel_now_credit = "credit"
""",
    )
    async with api_with_catalog(database_url, path) as api:
        clock = await api.clock("2025-03-01T12:00:00Z")
        customer = await api.customer(clock, market="IN")
        sub = await api.subscribe(customer, plan="premium_individual_prepaid_1m")
        extend = {"plan": "premium_individual_prepaid_1m"}
        await api.ok("POST", f"/v1/subscriptions/{sub['id']}/extend", extend)
        await api.advance(clock, "2025-03-21T12:00:00Z")
        await cancel_now(api, sub)
        [credit] = [
            row
            for row in await api.invoices(customer)
            if row["billing_reason"] == "subscription_cancel"
        ]
        # 11 of March's 31 days (13900 x 11/31 = 4932.26) and all of the April bought ahead.
        assert [line["amount"] for line in credit["lines"]] == [-4932, -13900]
        assert await balance_of(api, customer) == 4932 + 13900
        await assert_clean(api)


async def test_credit_covers_an_attached_addon_once_and_a_removed_one_not_again(
    database_url: str, tmp_path: Path
) -> None:
    async with api_with_catalog(database_url, policy(tmp_path, "credit", None)) as api:
        clock = await api.clock(START)
        kept, removed = await api.customer(clock), await api.customer(clock)
        subs = {customer: await api.subscribe(customer) for customer in (kept, removed)}
        await api.advance(clock, CANCEL)  # 2025-03-11 08:00: 21 of 31 days left
        items = {}
        for customer, sub in subs.items():
            added = await api.ok(
                "POST", f"/v1/subscriptions/{sub['id']}/items", {"plan": "audiobooks_addon_monthly"}
            )
            items[customer] = added["items"][0]["id"]
        await api.advance(clock, "2025-03-15T08:00:00Z")
        gone = await api.ok_delete(
            f"/v1/subscriptions/{subs[removed]['id']}/items/{items[removed]}"
        )
        # 17 of 31 days: 9900 x 17/31 = 5429.03.
        assert (await api.ok("GET", f"/v1/invoices/{gone['latest_invoice']}"))["total"] == -5429
        await api.advance(clock, "2025-03-21T08:00:00Z")  # 11 of 31 days left
        for sub in subs.values():
            await cancel_now(api, sub)

        def credit_of(rows: list[dict[str, Any]]) -> list[int]:
            [credit] = [row for row in rows if row["billing_reason"] == "subscription_cancel"]
            return [line["amount"] for line in credit["lines"]]

        # Base: 12900 x 11/31 = 4577.42; the add-on's own charge (6706 for Mar 11 -> Apr 1,
        # 21 days): 11/21 of it = 3512.67.
        assert credit_of(await api.invoices(kept)) == [-4577, -3513]
        assert credit_of(await api.invoices(removed)) == [-4577]
        assert await balance_of(api, removed) == 5429 + 4577
        await assert_clean(api)
