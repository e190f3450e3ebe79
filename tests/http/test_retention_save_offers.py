"""Save offers at cancellation, on a test clock, through the HTTP API (default catalog).

Premium Individual monthly in SE (129.00 SEK) from 2025-01-31: after two paid periods (the
first invoice and the Feb 28 renewal) the 50%-off-for-3-months offer is eligible; taken on
Mar 1, it discounts exactly the Mar 31, Apr 30 and May 31 invoices (64.50 SEK) and the Jun 30
one is full price again.
"""

from __future__ import annotations

from typing import Any

from tests.support.api import Api

SAVE = "half_price_3_months"


async def _offers(api: Api, sub: str) -> list[str]:
    body = await api.ok("GET", f"/v1/subscriptions/{sub}/retention_offers")
    return [offer["id"] for offer in body["data"]]


async def _refusal(api: Api, sub: str, offer: str) -> tuple[int, str, str | None]:
    response = await api.post(f"/v1/subscriptions/{sub}/retention_offers/{offer}/accept")
    body: dict[str, Any] = response.json()
    return response.status_code, body["code"], body.get("reason")


async def test_discount_offer_applies_to_exactly_n_invoices(api: Api) -> None:
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = (await api.subscribe(customer))["id"]
    await api.advance(clock, "2025-03-01T10:00:00Z")

    listed = await api.ok("GET", f"/v1/subscriptions/{sub}/retention_offers")
    offer = next(o for o in listed["data"] if o["id"] == SAVE)
    assert (offer["kind"], offer["percent_off"], offer["periods"]) == ("discount", "50", 3)
    assert offer["price"] == {"amount": 6450, "currency": "SEK"}
    assert "two_free_weeks" not in [o["id"] for o in listed["data"]]  # needs 6 paid periods

    await api.ok("POST", f"/v1/subscriptions/{sub}/retention_offers/{SAVE}/accept")
    await api.advance(clock, "2025-07-01T10:00:00Z")
    invoices = sorted(await api.invoices(customer), key=lambda i: i["period_start"])
    assert [i["total"] for i in invoices] == [12900, 12900, 6450, 6450, 6450, 12900]
    assert invoices[2]["lines"][1]["amount"] == -6450
    types = [e["type"] for e in await api.events(subscription=sub)]
    assert types.count("subscription.retention_offers_shown") == 1
    assert types.count("subscription.retention_offer_accepted") == 1
    history = await api.ok("GET", f"/v1/subscriptions/{sub}/history")
    assert [row["reason"] for row in history["data"] if row["action"] == "accept_offer"] == [SAVE]
    # Once per customer per window (365 days): not again, and not listed any more.
    assert await _refusal(api, sub, SAVE) == (409, "offer_not_eligible", "offer_already_used")
    assert SAVE not in await _offers(api, sub)


async def test_offers_refused_by_eligibility_change_nothing(api: Api) -> None:
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = (await api.subscribe(customer))["id"]
    assert SAVE not in await _offers(api, sub)  # one paid period so far
    assert await _refusal(api, sub, SAVE) == (409, "offer_not_eligible", "tenure_too_short")
    assert await _refusal(api, sub, "family_to_duo") == (
        409,
        "offer_not_eligible",
        "not_offered_for_plan",
    )
    missing = await api.post(f"/v1/subscriptions/{sub}/retention_offers/no_such_offer/accept")
    assert (missing.status_code, missing.json()["code"]) == (404, "offer_not_found")
    bad = await api.post(f"/v1/subscriptions/{sub}/retention_offers/NOPE!/accept")
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_offer_id")
    assert await api.events(type="subscription.retention_offer_accepted", subscription=sub) == []
    # Taking the pause offer starts a cooldown: the discount is "recent_offer" afterwards.
    await api.advance(clock, "2025-03-01T10:00:00Z")
    await api.ok("POST", f"/v1/subscriptions/{sub}/retention_offers/pause_instead/accept")
    body = await api.subscription(sub)
    assert body["pause"]["status"] == "scheduled"
    assert await _refusal(api, sub, SAVE) == (409, "offer_not_eligible", "recent_offer")
    assert len(await api.invoices(customer)) == 2


async def test_taking_an_offer_reactivates_a_scheduled_cancel_explicitly(api: Api) -> None:
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = (await api.subscribe(customer))["id"]
    await api.advance(clock, "2025-03-01T10:00:00Z")
    await api.ok("POST", f"/v1/subscriptions/{sub}/cancel", {"reason": "too_expensive"})
    offers = await _offers(api, sub)
    assert SAVE in offers
    taken = await api.ok("POST", f"/v1/subscriptions/{sub}/retention_offers/{SAVE}/accept")
    assert (taken["cancel_at_period_end"], taken["cancellation"]) == (False, None)
    accepted = await api.events(type="subscription.retention_offer_accepted", subscription=sub)
    assert accepted[-1]["data"]["reactivated"] is True
    assert await api.events(type="subscription.reactivated", subscription=sub) != []
    await api.advance(clock, "2025-04-01T10:00:00Z")
    assert (await api.subscription(sub))["status"] == "active"


async def test_family_to_duo_downgrade_offer_and_a_declined_offer(api: Api) -> None:
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = (await api.subscribe(customer, plan="premium_family_monthly"))["id"]
    assert "family_to_duo" in await _offers(api, sub)
    await api.ok("POST", f"/v1/subscriptions/{sub}/retention_offers/pause_instead/decline")
    declined = await api.events(type="subscription.retention_offer_declined", subscription=sub)
    assert declined[-1]["data"]["offer"]["id"] == "pause_instead"

    body = await api.ok("POST", f"/v1/subscriptions/{sub}/retention_offers/family_to_duo/accept")
    assert body["pending_change"] == {
        "plan": "premium_duo_monthly",
        "effective_at": "2025-02-28T10:00:00Z",
    }
    await api.advance(clock, "2025-02-28T10:00:00Z")
    after = await api.subscription(sub)
    assert (after["plan"], after["price"]["amount"]) == ("premium_duo_monthly", 16900)
    totals = [i["total"] for i in sorted(await api.invoices(customer), key=lambda i: i["created"])]
    assert totals == [20900, 16900]


async def test_tenure_check_is_clean_after_every_retention_lever(api: Api) -> None:
    """Every state change of the levers has its event, and the money checks hold."""
    import asyncio

    from tenure.ops.invariants import run_checks
    from tests.http import test_retention_cancel_reasons as reasons
    from tests.http import test_retention_pause as pauses

    await pauses.test_pause_at_period_end_resumes_by_itself_with_the_new_anchor(api)
    await pauses.test_pause_now_credits_unused_days_and_an_early_resume_bills_from_that_day(api)
    await pauses.test_cancel_while_paused_ends_at_the_resume_or_now_and_never_bills(api)
    await reasons.test_reason_and_comment_are_kept_and_carried_until_reactivate(api)
    await test_discount_offer_applies_to_exactly_n_invoices(api)
    await test_taking_an_offer_reactivates_a_scheduled_cancel_explicitly(api)
    await test_family_to_duo_downgrade_offer_and_a_declined_offer(api)
    runtime = api.client.app.state.runtime
    portal = api.client.blocking_portal
    assert portal is not None
    results = await asyncio.to_thread(portal.call, run_checks, runtime)
    failed = [(r.check, r.violations[:3]) for r in results if not r.ok]
    assert not failed
