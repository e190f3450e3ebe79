"""Households through the API with a test clock: build, use, shrink and dissolve.

Clocks start at 2025-01-15T09:00:00Z, so monthly periods end on the 15th at 09:00.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import Api

START = "2025-01-15T09:00:00Z"
FEB = "2025-02-15T09:00:00Z"
HOME = "12 Main Street, Apt 4"


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert response.headers["content-type"].startswith("application/problem+json")
    return body


async def ent(api: Api, customer: str) -> dict[str, Any]:
    body: dict[str, Any] = await api.ok("GET", f"/v1/customers/{customer}/entitlements")
    return body


async def household_of(api: Api, sub: dict[str, Any]) -> str:
    body = await api.subscription(sub["id"])
    assert body["household"] is not None, body
    return str(body["household"]["id"])


async def join(api: Api, household: str, customer: str, address: str | None = None) -> Any:
    invite = await api.ok("POST", f"/v1/households/{household}/invites", {})
    body: dict[str, Any] = {"customer": customer}
    if address is not None:
        body["address"] = address
    return await api.post(f"/v1/invites/{invite['code']}/accept", body)


async def family(
    api: Api, plan: str = "premium_family_monthly"
) -> tuple[str, str, str, dict[str, Any]]:
    clock = await api.clock(START)
    manager = await api.customer(clock)
    sub = await api.subscribe(manager, plan=plan, payment_method="pm_card_fails_after_first")
    household = await household_of(api, sub)
    if plan.startswith("premium_family"):
        await api.ok("POST", f"/v1/households/{household}/address", {"address": HOME})
    return clock, manager, household, sub


async def test_a_duo_household_is_built_used_and_dissolved(api: Api) -> None:
    clock, manager, household, sub = await family(api, "premium_duo_monthly")
    view = await api.ok("GET", f"/v1/households/{household}")
    assert view["manager"]["customer"] == manager
    assert (view["accounts"], view["free_seats"], view["members"]) == (2, 1, [])
    assert (await api.subscription(sub["id"]))["household"]["free_seats"] == 1

    partner = await api.customer(clock)
    assert (await ent(api, partner))["source"] == "free"
    joined = await join(api, household, partner)
    assert joined.status_code == 200, joined.text
    assert joined.json()["members"][0]["customer"] == partner
    assert joined.json()["free_seats"] == 0
    member = await ent(api, partner)
    assert (member["source"], member["product"], member["household"]) == (
        "household",
        "premium_duo",
        household,
    )
    assert member["valid_until"] == FEB

    third = await api.customer(clock)
    problem(await join(api, household, third), 409, "household_full")

    # The renewal fails: past_due keeps access for everyone during grace ...
    await api.advance(clock, "2025-02-16T09:00:00Z")
    member = await ent(api, partner)
    assert (member["status"], member["billing_issue"], member["source"]) == (
        "past_due",
        True,
        "household",
    )
    # ... and when grace ends (account hold), manager and member lose it at the same moment.
    await api.advance(clock, "2025-02-23T09:00:00Z")
    held = await ent(api, manager)
    assert (held["product"], held["status"], held["billing_issue"]) == ("free", "on_hold", True)
    assert (await ent(api, partner))["source"] == "free"
    # The hold runs out unpaid: the subscription expires and the household ends.
    await api.advance(clock, "2025-03-25T09:00:00Z")
    assert (await ent(api, manager))["source"] == "free"
    assert (await ent(api, partner))["source"] == "free"
    ended = await api.ok("GET", f"/v1/households/{household}")
    assert (ended["status"], ended["members"], ended["free_seats"]) == ("ended", [], 0)
    assert (await api.subscription(sub["id"]))["household"] is None

    types = [e["type"] for e in await api.events(customer=partner)]
    assert "household.member_joined" in types
    assert "household.member_removed" in types
    assert types.count("entitlements.changed") >= 3  # joined, past_due, ended


async def test_family_needs_the_managers_address_and_members_can_leave(api: Api) -> None:
    clock, manager, household, _ = await family(api)
    kid = await api.customer(clock)
    problem(await join(api, household, kid), 422, "address_required")
    problem(await join(api, household, kid, "99 Elsewhere Road"), 422, "address_mismatch")
    joined = await join(api, household, kid, "  12 main street apt 4 ")
    assert joined.status_code == 200, joined.text
    assert (await ent(api, kid))["product"] == "premium_family"

    problem(await join(api, household, kid, HOME), 409, "already_in_household")
    problem(
        await api.post(f"/v1/households/{household}/leave", {"customer": manager}),
        409,
        "manager_cannot_leave",
    )
    left = await api.ok("POST", f"/v1/households/{household}/leave", {"customer": kid})
    assert left["members"] == [] and left["free_seats"] == 5
    assert (await ent(api, kid))["source"] == "free"
    types = [e["type"] for e in await api.events(customer=kid)]
    assert "household.member_left" in types

    other = await api.customer(clock)
    assert (await join(api, household, other, HOME)).status_code == 200
    removed = await api.client.delete(
        f"/v1/households/{household}/members/{other}",
        headers={"Authorization": "Bearer test-key"},
    )
    assert removed.status_code == 200, removed.text
    assert (await ent(api, other))["source"] == "free"
    problem(
        await api.post(f"/v1/households/{household}/leave", {"customer": other}),
        404,
        "household_member_not_found",
    )
    assert "household.member_removed" in [e["type"] for e in await api.events(customer=other)]


async def test_invites_expire_and_are_single_use(api: Api) -> None:
    clock, _, household, _ = await family(api, "premium_duo_monthly")
    invite = await api.ok("POST", f"/v1/households/{household}/invites", {"expires_in_hours": 1})
    assert invite["expires_at"] == "2025-01-15T10:00:00Z"
    await api.advance(clock, "2025-01-15T11:00:00Z")
    late = await api.customer(clock)
    problem(
        await api.post(f"/v1/invites/{invite['code']}/accept", {"customer": late}),
        409,
        "invite_expired",
    )
    problem(await api.post("/v1/invites/nope/accept", {"customer": late}), 404, "invite_not_found")
    problem(
        await api.post(f"/v1/households/{household}/invites", {"expires_in_hours": 0}),
        422,
        "invalid_invite_expiry",
    )
    problem(await api.get("/v1/households/hh_nope"), 404, "household_not_found")


async def test_a_member_with_their_own_subscription_keeps_it_until_its_period_end(
    api: Api,
) -> None:
    clock, _, household, _ = await family(api, "premium_duo_monthly")
    partner = await api.customer(clock)
    own = await api.subscribe(partner, plan="premium_individual_monthly")
    assert (await join(api, household, partner)).status_code == 200
    mine = await api.subscription(own["id"])
    assert mine["cancel_at_period_end"] is True
    # Their own paid subscription still decides until it ends ...
    assert (await ent(api, partner))["source"] == "subscription"
    await api.advance(clock, "2025-02-15T10:00:00Z")
    # ... then the household does (the manager's card fails, but grace keeps access).
    after = await ent(api, partner)
    assert (after["source"], after["product"]) == ("household", "premium_duo")
    assert (await api.subscription(own["id"]))["status"] == "expired"


async def test_downgrading_to_individual_with_members_is_refused_unless_removing(
    api: Api,
) -> None:
    clock = await api.clock(START)
    manager = await api.customer(clock)
    sub = await api.subscribe(manager, plan="premium_family_monthly")
    household = await household_of(api, sub)
    await api.ok("POST", f"/v1/households/{household}/address", {"address": HOME})
    kids = [await api.customer(clock) for _ in range(2)]
    for kid in kids:
        assert (await join(api, household, kid, HOME)).status_code == 200

    change = {"plan": "premium_individual_monthly", "at": "now"}
    body = problem(
        await api.post(f"/v1/subscriptions/{sub['id']}/change", change),
        409,
        "household_has_members",
    )
    assert (body["members"], body["allowed_members"]) == (2, 0)
    problem(
        await api.post(f"/v1/subscriptions/{sub['id']}/change_preview", change),
        409,
        "household_has_members",
    )
    # Family -> Duo keeps the earliest member and removes the latest.
    duo = await api.ok(
        "POST",
        f"/v1/subscriptions/{sub['id']}/change",
        {"plan": "premium_duo_monthly", "at": "now", "remove_members": True},
    )
    assert duo["household"]["accounts"] == 2
    assert (await ent(api, kids[0]))["product"] == "premium_duo"
    assert (await ent(api, kids[1]))["source"] == "free"
    await api.ok(
        "POST",
        f"/v1/subscriptions/{sub['id']}/change",
        {**change, "remove_members": True},
    )
    assert (await ent(api, kids[0]))["source"] == "free"
    assert (await api.subscription(sub["id"]))["household"] is None
    assert (await ent(api, manager))["product"] == "premium_individual"
    removed = [e for e in await api.events(type="household.member_removed")]
    assert {e["customer"] for e in removed} == set(kids)
    assert {e["data"]["reason"] for e in removed} == {"plan_change"}
