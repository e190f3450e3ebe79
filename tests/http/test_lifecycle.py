"""The subscription lifecycle through HTTP and test clocks: first payment, renewal failures,
dunning, cancel and reactivate, conflicts, history, clocks and the event feed.

Clocks start at 2025-01-15T09:00:00Z, so monthly periods end on the 15th at 09:00.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import Api

START = "2025-01-15T09:00:00Z"
FEB = "2025-02-15T09:00:00Z"
MAR = "2025-03-15T09:00:00Z"
APR = "2025-04-15T09:00:00Z"
PREMIUM = "premium_individual"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


async def setup(api: Api, *, at: str = START, market: str = "SE") -> tuple[str, str]:
    clock = await api.clock(at)
    return clock, await api.customer(clock, market=market)


async def create_sub(api: Api, customer: str, payment_method: str, **extra: Any) -> httpx.Response:
    body = {"customer": customer, "plan": "premium_individual_monthly"}
    return await api.post("/v1/subscriptions", {**body, "payment_method": payment_method, **extra})


async def entitlements(api: Api, customer: str) -> dict[str, Any]:
    body: dict[str, Any] = await api.ok("GET", f"/v1/customers/{customer}/entitlements")
    return body


async def event_types(api: Api, sub_id: str) -> list[str]:
    return [event["type"] for event in await api.events(subscription=sub_id)]


async def cancel(api: Api, sub_id: str, *, at_period_end: bool) -> httpx.Response:
    return await api.post(f"/v1/subscriptions/{sub_id}/cancel", {"at_period_end": at_period_end})


async def invoice_by_start(api: Api, customer: str) -> dict[str, dict[str, Any]]:
    return {row["period_start"]: row for row in await api.invoices(customer)}


async def past_due_on_renewal(api: Api) -> tuple[str, str, dict[str, Any]]:
    """A card that pays the first period and then fails: past_due from FEB."""
    clock, customer = await setup(api)
    sub = await api.subscribe(customer, payment_method="pm_card_fails_after_first")
    assert sub["status"] == "active"
    await api.advance(clock, FEB)
    return clock, customer, sub


# --- First payment --------------------------------------------------------------------------


async def test_a_declined_first_payment_leaves_the_subscription_incomplete(api: Api) -> None:
    _, customer = await setup(api)
    response = await create_sub(api, customer, "pm_card_declined")
    assert response.status_code == 201, response.text
    sub = response.json()
    assert sub["status"] == "incomplete"
    assert sub["last_payment_error"]["status"] == "declined"
    assert sub["last_payment_error"]["decline_code"] == "card_declined"

    invoice = await api.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")
    assert invoice["status"] == "open"
    assert invoice["billing_reason"] == "subscription_create"
    assert (invoice["total"], invoice["amount_paid"], invoice["amount_due"]) == (12900, 0, 12900)
    assert await event_types(api, sub["id"]) == [
        "subscription.created",
        "invoice.created",
        "invoice.payment_failed",
    ]
    assert (await entitlements(api, customer))["product"] == "free"


async def test_paying_the_incomplete_invoice_with_a_new_card_activates(api: Api) -> None:
    clock, customer = await setup(api)
    sub = (await create_sub(api, customer, "pm_card_declined")).json()
    invoice_id = sub["latest_invoice"]
    await api.advance(clock, "2025-01-15T10:00:00Z")

    declined = await api.post(f"/v1/invoices/{invoice_id}/pay", {})
    body = assert_problem(declined, 402, "card_declined")
    assert body["invoice"] == invoice_id
    assert body["retryable"] is False

    paid = await api.ok(
        "POST", f"/v1/invoices/{invoice_id}/pay", {"payment_method": "pm_card_visa"}
    )
    assert paid["status"] == "paid"
    assert paid["amount_paid"] == 12900
    assert paid["amount_due"] == 0
    assert paid["paid_at"] == "2025-01-15T10:00:00Z"

    active = await api.subscription(sub["id"])
    assert active["status"] == "active"
    assert active["payment_method"] == "pm_card_visa"
    assert (await entitlements(api, customer))["product"] == PREMIUM
    assert (await event_types(api, sub["id"]))[-2:] == ["invoice.paid", "subscription.activated"]

    again = await api.post(f"/v1/invoices/{invoice_id}/pay", {"payment_method": "pm_card_visa"})
    assert_problem(again, 409, "invoice_not_open")
    # The new card is the one renewals use.
    await api.advance(clock, FEB)
    assert (await invoice_by_start(api, customer))[FEB]["status"] == "paid"


async def test_an_incomplete_subscription_expires_after_23_hours(api: Api) -> None:
    clock, customer = await setup(api)
    sub = (await create_sub(api, customer, "pm_card_declined")).json()

    await api.advance(clock, "2025-01-16T07:59:59Z")
    assert (await api.subscription(sub["id"]))["status"] == "incomplete"

    await api.advance(clock, "2025-01-16T08:00:00Z")
    expired = await api.subscription(sub["id"])
    assert expired["status"] == "incomplete_expired"
    assert expired["ended_at"] == "2025-01-16T08:00:00Z"
    assert expired["ended_reason"] == "incomplete_expired"
    invoice = await api.ok("GET", f"/v1/invoices/{sub['latest_invoice']}")
    assert invoice["status"] == "void"
    assert invoice["amount_due"] == 0
    [event] = await api.events(subscription=sub["id"], type="subscription.incomplete_expired")
    assert event["created"] == "2025-01-16T08:00:00Z"
    ent = await entitlements(api, customer)
    assert (ent["product"], ent["status"]) == ("free", "free")

    late = await api.post(f"/v1/invoices/{sub['latest_invoice']}/pay", {})
    assert_problem(late, 409, "invoice_not_open")
    fresh = await api.subscribe(customer)
    assert fresh["status"] == "active"


async def test_insufficient_funds_on_the_first_payment(api: Api) -> None:
    _, customer = await setup(api)
    sub = (await create_sub(api, customer, "pm_card_insufficient_funds")).json()
    assert sub["status"] == "incomplete"
    assert sub["last_payment_error"]["decline_code"] == "insufficient_funds"
    [failed] = await api.events(subscription=sub["id"], type="invoice.payment_failed")
    assert failed["data"]["decline_code"] == "insufficient_funds"
    assert failed["data"]["retryable"] is True
    [invoice] = await api.invoices(customer)
    assert invoice["status"] == "open"


# --- Renewal failures and dunning -----------------------------------------------------------


async def test_a_failed_renewal_makes_the_subscription_past_due(api: Api) -> None:
    _, customer, sub = await past_due_on_renewal(api)

    past_due = await api.subscription(sub["id"])
    assert past_due["status"] == "past_due"
    assert (past_due["current_period_start"], past_due["current_period_end"]) == (FEB, MAR)
    invoices = await invoice_by_start(api, customer)
    assert invoices[START]["status"] == "paid"
    assert invoices[FEB]["status"] == "open"
    assert invoices[FEB]["billing_reason"] == "subscription_cycle"

    assert (await event_types(api, sub["id"]))[-3:] == [
        "invoice.created",
        "invoice.payment_failed",
        "subscription.past_due",
    ]
    [failed] = await api.events(subscription=sub["id"], type="invoice.payment_failed")
    assert failed["created"] == FEB
    assert failed["data"]["retryable"] is True
    assert failed["data"]["decline_code"] == "insufficient_funds"
    assert failed["data"]["invoice"] == invoices[FEB]["id"]

    ent = await entitlements(api, customer)
    assert (ent["product"], ent["status"], ent["billing_issue"]) == (PREMIUM, "past_due", True)
    assert ent["valid_until"] == "2025-02-22T09:00:00Z"
    assert (await api.ok("GET", f"/v1/customers/{customer}"))["billing_issue"] is True


async def test_paying_a_past_due_invoice_recovers_and_later_renewals_use_the_new_card(
    api: Api,
) -> None:
    clock, customer, sub = await past_due_on_renewal(api)
    await api.advance(clock, "2025-02-17T09:00:00Z")
    open_invoice = (await invoice_by_start(api, customer))[FEB]

    paid = await api.ok(
        "POST", f"/v1/invoices/{open_invoice['id']}/pay", {"payment_method": "pm_card_visa"}
    )
    assert paid["status"] == "paid"
    assert paid["paid_at"] == "2025-02-17T09:00:00Z"
    recovered = await api.subscription(sub["id"])
    assert recovered["status"] == "active"
    assert recovered["payment_method"] == "pm_card_visa"
    assert (recovered["current_period_start"], recovered["current_period_end"]) == (FEB, MAR)
    assert (await event_types(api, sub["id"]))[-2:] == ["invoice.paid", "subscription.recovered"]
    ent = await entitlements(api, customer)
    assert (ent["status"], ent["billing_issue"]) == ("active", False)
    assert (await api.ok("GET", f"/v1/customers/{customer}"))["billing_issue"] is False

    # pm_card_fails_after_first would fail again: a paid renewal means the new card was used.
    await api.advance(clock, APR)
    invoices = await invoice_by_start(api, customer)
    assert sorted(invoices) == [START, FEB, MAR, APR]
    assert {row["status"] for row in invoices.values()} == {"paid"}
    assert (await api.subscription(sub["id"]))["status"] == "active"
    assert (await event_types(api, sub["id"])).count("subscription.renewed") == 2


async def test_an_unpaid_past_due_subscription_goes_on_hold_after_seven_days_then_expires(
    api: Api,
) -> None:
    clock, customer, sub = await past_due_on_renewal(api)

    await api.advance(clock, "2025-02-22T08:59:59Z")
    assert (await api.subscription(sub["id"]))["status"] == "past_due"
    assert (await entitlements(api, customer))["product"] == PREMIUM

    await api.advance(clock, "2025-02-22T09:00:00Z")
    assert (await api.subscription(sub["id"]))["status"] == "on_hold"
    ent = await entitlements(api, customer)
    assert (ent["product"], ent["status"], ent["billing_issue"]) == ("free", "on_hold", True)
    assert (await invoice_by_start(api, customer))[FEB]["status"] == "open"

    # The hold lasts 30 days after grace: 2025-03-24 09:00.
    await api.advance(clock, "2025-03-24T08:59:59Z")
    assert (await api.subscription(sub["id"]))["status"] == "on_hold"
    await api.advance(clock, "2025-03-24T09:00:00Z")
    expired = await api.subscription(sub["id"])
    assert expired["status"] == "expired"
    assert expired["ended_reason"] == "payment_failed"
    assert expired["ended_at"] == "2025-03-24T09:00:00Z"
    assert (await invoice_by_start(api, customer))[FEB]["status"] == "uncollectible"
    ent = await entitlements(api, customer)
    assert (ent["product"], ent["billing_issue"]) == ("free", False)
    assert (await event_types(api, sub["id"]))[-2:] == [
        "subscription.expired",
        "invoice.marked_uncollectible",
    ]

    await api.advance(clock, "2025-06-01T09:00:00Z")
    assert sorted(await invoice_by_start(api, customer)) == [START, FEB]


# --- Cancel and reactivate ------------------------------------------------------------------


async def test_cancel_now_ends_access_at_once_and_bills_nothing_more(api: Api) -> None:
    clock, customer = await setup(api)
    sub = await api.subscribe(customer)
    await api.advance(clock, "2025-01-20T09:00:00Z")

    response = await cancel(api, sub["id"], at_period_end=False)
    assert response.status_code == 200, response.text
    canceled = response.json()
    assert canceled["status"] == "canceled"
    assert canceled["canceled_at"] == canceled["ended_at"] == "2025-01-20T09:00:00Z"
    assert canceled["ended_reason"] == "canceled"
    assert canceled["cancel_at_period_end"] is False
    assert (await entitlements(api, customer))["product"] == "free"
    [event] = await api.events(subscription=sub["id"], type="subscription.canceled")
    assert event["data"]["at_period_end"] is False

    await api.advance(clock, "2026-01-20T09:00:00Z")
    assert len(await api.invoices(customer)) == 1
    assert (await api.subscription(sub["id"]))["status"] == "canceled"
    history = (await api.ok("GET", f"/v1/subscriptions/{sub['id']}/history"))["data"]
    last = history[-1]
    assert (last["at"], last["from"], last["to"], last["action"]) == (
        "2025-01-20T09:00:00Z",
        "active",
        "canceled",
        "cancel_now",
    )


async def test_reactivating_before_period_end_keeps_the_subscription_renewing(api: Api) -> None:
    clock, customer = await setup(api)
    sub = await api.subscribe(customer)

    canceling = (await cancel(api, sub["id"], at_period_end=True)).json()
    assert (canceling["status"], canceling["cancel_at_period_end"]) == ("active", True)
    assert canceling["canceled_at"] == START
    await api.advance(clock, "2025-02-10T09:00:00Z")
    reactivated = await api.ok("POST", f"/v1/subscriptions/{sub['id']}/reactivate", {})
    assert reactivated["status"] == "active"
    assert reactivated["cancel_at_period_end"] is False
    assert reactivated["canceled_at"] is None

    await api.advance(clock, MAR)
    assert (await api.subscription(sub["id"]))["status"] == "active"
    invoices = await invoice_by_start(api, customer)
    assert sorted(invoices) == [START, FEB, MAR]
    assert {row["status"] for row in invoices.values()} == {"paid"}
    types = await event_types(api, sub["id"])
    assert types[4:6] == ["subscription.canceled", "subscription.reactivated"]
    assert types.count("subscription.renewed") == 2
    assert "subscription.expired" not in types
    history = (await api.ok("GET", f"/v1/subscriptions/{sub['id']}/history"))["data"]
    assert [row["action"] for row in history] == [
        "created",
        "first_payment_succeeded",
        "schedule_cancel",
        "reactivate",
        "renewed",
        "renewed",
    ]


async def test_reactivate_and_cancel_refuse_what_makes_no_sense(api: Api) -> None:
    _, customer = await setup(api)
    sub = await api.subscribe(customer)
    reactivate = f"/v1/subscriptions/{sub['id']}/reactivate"

    assert_problem(await api.post(reactivate, {}), 409, "subscription_not_canceling")
    assert (await cancel(api, sub["id"], at_period_end=True)).status_code == 200
    again = await cancel(api, sub["id"], at_period_end=True)
    assert_problem(again, 409, "subscription_already_canceling")
    assert (await api.subscription(sub["id"]))["cancel_at_period_end"] is True

    assert (await cancel(api, sub["id"], at_period_end=False)).status_code == 200
    assert_problem(await api.post(reactivate, {}), 409, "subscription_not_canceling")
    assert (await api.subscription(sub["id"]))["status"] == "canceled"


async def test_canceling_an_ended_subscription_is_an_illegal_transition(api: Api) -> None:
    _, customer = await setup(api)
    sub = await api.subscribe(customer)
    await cancel(api, sub["id"], at_period_end=False)

    for at_period_end, action in ((False, "cancel_now"), (True, "schedule_cancel")):
        response = await cancel(api, sub["id"], at_period_end=at_period_end)
        body = assert_problem(response, 409, "subscription_illegal_transition")
        assert body["action"] == action
    ended = await api.subscription(sub["id"])
    assert (ended["status"], ended["cancel_at_period_end"]) == ("canceled", False)
    assert (await event_types(api, sub["id"])).count("subscription.canceled") == 1


async def test_one_live_subscription_per_customer_and_a_new_one_after_expiry(api: Api) -> None:
    clock, customer = await setup(api)
    sub = await api.subscribe(customer)

    for plan in ("premium_individual_monthly", "premium_duo_annual"):
        response = await api.post(
            "/v1/subscriptions",
            {"customer": customer, "plan": plan, "payment_method": "pm_card_visa"},
        )
        body = assert_problem(response, 409, "subscription_exists")
        assert body["subscription"] == sub["id"]
    assert len(await api.invoices(customer)) == 1

    await cancel(api, sub["id"], at_period_end=True)
    await api.advance(clock, "2025-02-16T09:00:00Z")
    assert (await api.subscription(sub["id"]))["status"] == "expired"

    second = await api.subscribe(customer, plan="premium_duo_monthly")
    assert second["status"] == "active"
    assert second["current_period_start"] == "2025-02-16T09:00:00Z"
    ent = await entitlements(api, customer)
    assert (ent["product"], ent["subscription"]) == ("premium_duo", second["id"])
    listed = await api.ok("GET", "/v1/subscriptions", customer=customer)
    assert {row["id"] for row in listed["data"]} == {sub["id"], second["id"]}


async def test_history_lists_every_transition_with_its_actor(api: Api) -> None:
    clock, customer = await setup(api)
    sub = (await create_sub(api, customer, "pm_card_declined")).json()
    await api.ok(
        "POST", f"/v1/invoices/{sub['latest_invoice']}/pay", {"payment_method": "pm_card_visa"}
    )
    await api.advance(clock, FEB)
    await cancel(api, sub["id"], at_period_end=True)
    await api.advance(clock, "2025-04-01T09:00:00Z")

    history = (await api.ok("GET", f"/v1/subscriptions/{sub['id']}/history"))["data"]
    rows = [(row["at"], row["from"], row["to"], row["action"]) for row in history]
    assert rows == [
        (START, None, "incomplete", "created"),
        (START, "incomplete", "active", "first_payment_succeeded"),
        (FEB, "active", "active", "renewed"),
        (FEB, "active", "active", "schedule_cancel"),
        (MAR, "active", "expired", "period_ended_canceled"),
    ]
    actors = [row["actor"] for row in history]
    assert all(actor.startswith("api:key_") for actor in actors[:2] + actors[3:4])
    assert actors[2] == actors[4] == f"test_clock:{clock}"
    assert history[4]["reason"] == "canceled"


# --- Test clocks ----------------------------------------------------------------------------


async def test_two_test_clocks_are_isolated(api: Api) -> None:
    clock_a, customer_a = await setup(api)
    clock_b, customer_b = await setup(api)
    sub_a = await api.subscribe(customer_a)
    sub_b = await api.subscribe(customer_b)

    advanced = await api.advance(clock_a, "2025-06-15T09:00:00Z")
    assert advanced["frozen_time"] == "2025-06-15T09:00:00Z"
    assert len(await api.invoices(customer_a)) == 6
    assert len(await api.invoices(customer_b)) == 1
    still = await api.subscription(sub_b["id"])
    assert still["current_period_end"] == FEB
    assert (await api.ok("GET", f"/v1/test_clocks/{clock_b}"))["frozen_time"] == START
    assert (await api.subscription(sub_a["id"]))["current_period_end"] == "2025-07-15T09:00:00Z"

    # A customer created on B now still lives at B's time.
    late = await api.customer(clock_b)
    assert (await api.subscribe(late))["current_period_start"] == START


async def test_a_test_clock_never_moves_backwards(api: Api) -> None:
    clock, customer = await setup(api)
    sub = await api.subscribe(customer)
    await api.advance(clock, FEB)

    response = await api.post(f"/v1/test_clocks/{clock}/advance", {"frozen_time": START})
    assert_problem(response, 422, "test_clock_backwards")
    body = await api.ok("GET", f"/v1/test_clocks/{clock}")
    assert (body["frozen_time"], body["status"]) == (FEB, "ready")
    assert len(await api.invoices(customer)) == 2
    await api.advance(clock, MAR)  # and it still moves forward afterwards
    assert (await api.subscription(sub["id"]))["current_period_end"] == APR


async def test_every_customer_on_a_clock_renews(api: Api) -> None:
    clock = await api.clock(START)
    customers = [await api.customer(clock, market=market) for market in ("SE", "GB", "US", "SE")]
    subs = [await api.subscribe(customer) for customer in customers]

    await api.advance(clock, APR)
    for customer, sub in zip(customers, subs, strict=True):
        invoices = await invoice_by_start(api, customer)
        assert sorted(invoices) == [START, FEB, MAR, APR]
        assert {row["status"] for row in invoices.values()} == {"paid"}
        assert (await api.subscription(sub["id"]))["current_period_end"] == "2025-05-15T09:00:00Z"
    renewals = await api.events(type="subscription.renewed")
    assert len(renewals) == 3 * len(customers)


# --- Events ---------------------------------------------------------------------------------


async def test_event_sequences_are_gapless_and_paging_returns_every_event_once(api: Api) -> None:
    clock = await api.clock(START)
    first, second = await api.customer(clock), await api.customer(clock)
    sub_one = await api.subscribe(first)
    sub_two = (await create_sub(api, second, "pm_card_declined")).json()
    await api.ok(
        "POST", f"/v1/invoices/{sub_two['latest_invoice']}/pay", {"payment_method": "pm_card_visa"}
    )
    await cancel(api, sub_one["id"], at_period_end=True)
    await api.advance(clock, APR)

    for sub_id in (sub_one["id"], sub_two["id"]):
        sequences = [event["sequence"] for event in await api.events(subscription=sub_id)]
        assert sequences == list(range(1, len(sequences) + 1))
    assert await event_types(api, sub_one["id"]) == [
        "subscription.created",
        "invoice.created",
        "invoice.paid",
        "subscription.activated",
        "subscription.canceled",
        "subscription.expired",
    ]

    everything = await api.events()
    paged: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 5} if after is None else {"limit": 5, "after": after}
        page = await api.ok("GET", "/v1/events", **params)
        assert len(page["data"]) <= 5
        paged.extend(page["data"])
        if not page["has_more"]:
            break
        assert page["next"] == page["data"][-1]["position"]
        after = page["next"]
    positions = [event["position"] for event in paged]
    assert positions == sorted(positions)
    assert positions == list(range(positions[0], positions[0] + len(positions)))
    assert [event["id"] for event in paged] == [event["id"] for event in everything]
    assert len({event["id"] for event in paged}) == len(paged)
    assert len(paged) > 15  # several pages, with customer events among them
    assert {event["type"] for event in paged} >= {"customer.created", "subscription.renewed"}
