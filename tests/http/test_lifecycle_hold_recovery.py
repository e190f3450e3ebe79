"""Issue 12, recovery after an account hold: by default (``recovery_during_hold =
"restart_period"``) the hold's days are credited on the paid invoice and a new period starts at
the recovery date, so nobody pays for days without access; a recovery during grace keeps the
anchor. The timeline of docs/dunning.md#recovery-after-an-account-hold.

Premium Individual monthly in SE (12900) from 2025-01-15 09:00; the renewal on 2025-02-15 09:00
(period to 2025-03-15, 28 days) declines hard; grace ends 2025-02-22 09:00 (hold from then).
"""

from __future__ import annotations

from tests.http.test_dunning import GRACE_END, attach, renewal_fails_hard
from tests.http.test_lifecycle import FEB, MAR
from tests.http.test_lifecycle_check import assert_clean
from tests.http.test_trials import entitlements
from tests.support.api import Api

RECOVERY = "2025-03-01T12:00:00Z"


async def test_a_recovery_on_hold_restarts_the_period_and_charges_only_days_with_access(
    api: Api,
) -> None:
    clock, customer, sub = await renewal_fails_hard(api)
    await api.advance(clock, GRACE_END)
    assert (await api.subscription(sub["id"]))["status"] == "on_hold"
    await api.advance(clock, RECOVERY)
    await attach(api, customer, "pm_card_mastercard")

    back = await api.subscription(sub["id"])
    assert (back["status"], back["billing_anchor"], back["current_period_end"]) == (
        "active",
        RECOVERY,
        RECOVERY,
    )
    invoices = {
        row["billing_reason"] + row["period_start"]: row for row in await api.invoices(customer)
    }
    failed = invoices["subscription_cycle" + FEB]
    assert (failed["status"], failed["amount_paid"], failed["credited_unused"]) == (
        "paid",
        12900,
        9675,
    )
    credit = invoices["hold_credit" + GRACE_END]
    # 21 of the period's 28 days were on hold: 12900 x 21/28 = 9675 (VAT 1935 included).
    assert (credit["total"], credit["tax"], credit["credited_to_balance"]) == (-9675, -1935, 9675)
    assert credit["period_end"] == MAR
    assert (await api.ok("GET", f"/v1/customers/{customer}"))["balance"]["amount"] == 9675
    [recovered] = await api.events(subscription=sub["id"], type="subscription.recovered")
    assert (recovered["data"]["recovery"], recovered["data"]["hold_credit"]) == (
        "restart_period",
        9675,
    )

    # The new period starts at the recovery date; the credit pays most of it.
    await api.advance(clock, "2025-03-01T12:00:01Z")
    renewal = next(
        row
        for row in await api.invoices(customer)
        if row["billing_reason"] == "subscription_cycle" and row["period_start"] == RECOVERY
    )
    assert (renewal["period_end"], renewal["total"]) == ("2025-04-01T12:00:00Z", 12900)
    assert (renewal["credit_applied"], renewal["amount_paid"], renewal["status"]) == (
        9675,
        3225,
        "paid",
    )
    assert (await entitlements(api, customer))["product"] == "premium_individual"
    now = await api.subscription(sub["id"])
    assert (now["current_period_start"], now["current_period_end"]) == (
        RECOVERY,
        "2025-04-01T12:00:00Z",
    )
    # Feb 15 -> Feb 22 (7 days with access) cost 12900 - 9675 = 3225 = 12900 x 7/28; the hold
    # (Feb 22 -> Mar 1) cost nothing; Mar 1 -> Apr 1 is a full 12900 (9675 credit + 3225 cash).
    await assert_clean(api)


async def test_a_recovery_during_grace_keeps_the_anchor_and_credits_nothing(api: Api) -> None:
    clock, customer, sub = await renewal_fails_hard(api)
    await api.advance(clock, "2025-02-20T09:00:00Z")
    await attach(api, customer, "pm_card_mastercard")
    back = await api.subscription(sub["id"])
    assert (back["status"], back["current_period_start"], back["current_period_end"]) == (
        "active",
        FEB,
        MAR,
    )
    assert {row["billing_reason"] for row in await api.invoices(customer)} == {
        "subscription_create",
        "subscription_cycle",
    }
    [recovered] = await api.events(subscription=sub["id"], type="subscription.recovered")
    assert (recovered["data"]["recovery"], recovered["data"]["hold_credit"]) == (
        "keep_anchor",
        0,
    )
    await assert_clean(api)
