"""The gate: bearer authentication on every /v1 route, and Stripe-style POST idempotency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update

from tenure.access.models import IdempotencyRecord
from tenure.db.base import table_of
from tenure.db.engine import Database
from tests.support.api import AUTH, Api

SUB = "premium_individual_monthly"
REPLAYED = "idempotent-replayed"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert (body["status"], body["code"]) == (status, code)
    assert body["detail"]
    return body


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"idem-{uuid.uuid4().hex}"}


def customer_body(external_id: str | None = None) -> dict[str, Any]:
    return {
        "external_id": external_id or f"user-{uuid.uuid4().hex[:12]}",
        "email": "listener@example.com",
        "market": "SE",
    }


# --- Authentication ------------------------------------------------------------------------


PROTECTED = [
    ("GET", "/v1/customers"),
    ("POST", "/v1/customers"),
    ("GET", "/v1/plans?market=SE"),
    ("GET", "/v1/events"),
    ("POST", "/v1/test_clocks"),
    ("GET", "/v1/subscriptions"),
]
BAD_AUTH = [
    None,
    "Bearer wrong-key",
    "Bearer ",
    "Bearer",
    "Basic dGVzdC1rZXk6",
    "test-key",  # the right secret without a scheme
    "Bearer test-key-but-longer",
    "Bearer " + "k" * 5000,
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_requests_without_a_valid_key_are_401(api: Api, method: str, path: str) -> None:
    for authorization in BAD_AUTH:
        headers = {} if authorization is None else {"Authorization": authorization}
        response = await api.client.request(
            method, path, headers=headers, json=customer_body() if method == "POST" else None
        )
        body = assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].lower().startswith("bearer")
        assert "Authorization: Bearer" in body["detail"]
    # Nothing slipped through: no customer was created by any refused POST.
    assert (await api.ok("GET", "/v1/customers"))["data"] == []


async def test_the_right_key_is_accepted_whatever_the_scheme_case(api: Api) -> None:
    for authorization in ("Bearer test-key", "bearer test-key", "Bearer  test-key "):
        response = await api.client.get("/v1/customers", headers={"Authorization": authorization})
        assert response.status_code == 200, (authorization, response.text)


async def test_public_routes_need_no_key(api: Api) -> None:
    health = await api.client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"

    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    schema = response.json()
    assert schema["openapi"].startswith("3.1")
    assert schema["info"]["title"] == "Tenure"
    assert "/v1/subscriptions" in schema["paths"]
    assert "post" in schema["paths"]["/v1/subscriptions"]
    assert "/v1/invoices/{invoice_id}/pay" in schema["paths"]
    assert "/healthz" not in schema["paths"]


async def test_idempotency_needs_authentication_first(api: Api) -> None:
    headers = {"Idempotency-Key": "same", "Authorization": "Bearer wrong"}
    response = await api.client.post("/v1/customers", json=customer_body(), headers=headers)
    assert_problem(response, 401, "unauthorized")
    # The refused request claimed nothing: the key is still free for the real client.
    created = await api.post("/v1/customers", customer_body(), headers={"Idempotency-Key": "same"})
    assert created.status_code == 201
    assert REPLAYED not in created.headers


# --- Idempotency -------------------------------------------------------------------------


async def test_a_retried_create_customer_is_replayed_not_repeated(api: Api) -> None:
    headers = key()
    body = customer_body("replayed-user")
    first = await api.post("/v1/customers", body, headers=headers)
    assert first.status_code == 201
    assert REPLAYED not in first.headers
    for _ in range(2):
        again = await api.post("/v1/customers", body, headers=headers)
        assert again.status_code == first.status_code
        assert again.content == first.content
        assert again.headers[REPLAYED] == "true"
        assert again.headers["content-type"] == first.headers["content-type"]
    listed = await api.ok("GET", "/v1/customers", external_id="replayed-user")
    assert [c["id"] for c in listed["data"]] == [first.json()["id"]]
    created = await api.events(type="customer.created")
    assert [e["customer"] for e in created] == [first.json()["id"]]

    # Without the key the same body is a new request: now a conflict, not a replay.
    fresh = await api.post("/v1/customers", body)
    assert_problem(fresh, 409, "customer_exists")


async def test_a_retried_subscribe_charges_once(api: Api, database: Database) -> None:
    customer = await api.customer()
    headers = key()
    body = {"customer": customer, "plan": SUB, "payment_method": "pm_card_visa"}
    first = await api.post("/v1/subscriptions", body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "active"
    again = await api.post("/v1/subscriptions", body, headers=headers)
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers[REPLAYED] == "true"

    subs = await api.ok("GET", "/v1/subscriptions", customer=customer)
    assert [s["id"] for s in subs["data"]] == [first.json()["id"]]
    invoices = await api.invoices(customer)
    assert len(invoices) == 1
    assert invoices[0]["status"] == "paid"
    types = [e["type"] for e in await api.events(customer=customer)]
    assert types.count("subscription.created") == 1
    assert types.count("invoice.paid") == 1
    async with database.read() as session:
        charges = await session.scalar(
            text("SELECT count(*) FROM sandbox_charges WHERE customer_id = :c"), {"c": customer}
        )
    assert charges == 1


async def test_the_same_key_with_another_body_is_refused(api: Api) -> None:
    headers = key()
    first = await api.post("/v1/customers", customer_body("first-body"), headers=headers)
    assert first.status_code == 201
    other = await api.post("/v1/customers", customer_body("second-body"), headers=headers)
    body = assert_problem(other, 422, "idempotency_key_reused")
    assert "new key" in body["detail"]
    assert REPLAYED not in other.headers
    # Another path with the same key is another request too.
    clock = await api.post(
        "/v1/test_clocks", {"frozen_time": "2025-01-31T10:00:00Z"}, headers=headers
    )
    assert_problem(clock, 422, "idempotency_key_reused")
    listed = await api.ok("GET", "/v1/customers", external_id="second-body")
    assert listed["data"] == []


async def test_key_length(api: Api) -> None:
    too_long = {"Idempotency-Key": "k" * 256}
    response = await api.post("/v1/customers", customer_body("too-long"), headers=too_long)
    body = assert_problem(response, 400, "invalid_idempotency_key")
    assert "255" in body["detail"]
    assert (await api.ok("GET", "/v1/customers", external_id="too-long"))["data"] == []

    longest = {"Idempotency-Key": "k" * 255}
    first = await api.post("/v1/customers", customer_body("longest"), headers=longest)
    assert first.status_code == 201
    again = await api.post("/v1/customers", customer_body("longest"), headers=longest)
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers[REPLAYED] == "true"


async def test_an_empty_key_is_refused(api: Api) -> None:
    response = await api.post("/v1/customers", customer_body(), headers={"Idempotency-Key": ""})
    assert_problem(response, 400, "invalid_idempotency_key")


async def test_a_4xx_is_replayed_too(api: Api) -> None:
    headers = key()
    bad = {**customer_body("bad-market"), "market": "XX"}
    first = await api.post("/v1/customers", bad, headers=headers)
    assert_problem(first, 422, "unknown_market")
    again = await api.post("/v1/customers", bad, headers=headers)
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers[REPLAYED] == "true"
    assert again.headers["content-type"].startswith("application/problem+json")

    # A conflict is a 4xx as well: its replay does not turn into a success later.
    customer = await api.customer()
    headers = key()
    body = {"customer": customer, "plan": SUB, "payment_method": "pm_card_bogus"}
    first = await api.post("/v1/subscriptions", body, headers=headers)
    assert_problem(first, 422, "unknown_payment_method")
    again = await api.post("/v1/subscriptions", body, headers=headers)
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert (await api.ok("GET", "/v1/subscriptions", customer=customer))["data"] == []


async def test_keys_only_apply_to_posts(api: Api) -> None:
    headers = {**AUTH, "Idempotency-Key": "for-a-get"}
    for _ in range(2):
        response = await api.client.get("/v1/customers", headers=headers)
        assert response.status_code == 200
        assert REPLAYED not in response.headers
    created = await api.post(
        "/v1/customers", customer_body(), headers={"Idempotency-Key": "for-a-get"}
    )
    assert created.status_code == 201  # the key was never taken by the GETs


async def test_concurrent_retries_with_one_key_create_one_customer(api: Api) -> None:
    headers = key()
    body = customer_body("racing-user")
    responses = await asyncio.gather(
        *(api.post("/v1/customers", body, headers=headers) for _ in range(4))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) >= 1, [r.text for r in responses]
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    winner = [r for r in responses if r.status_code == 201 and REPLAYED not in r.headers]
    assert len(winner) == 1
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "idempotency_key_in_use")
        else:
            assert response.content == winner[0].content
    listed = await api.ok("GET", "/v1/customers", external_id="racing-user")
    assert len(listed["data"]) == 1
    # Once the first finished, a retry is a plain replay.
    late = await api.post("/v1/customers", body, headers=headers)
    assert (late.status_code, late.content) == (201, winner[0].content)
    assert late.headers[REPLAYED] == "true"


async def test_a_request_that_died_in_flight_is_retried_after_a_while(
    api: Api, database: Database
) -> None:
    headers = key()
    body = {"frozen_time": "2025-01-31T10:00:00Z", "name": "in-flight"}
    first = await api.post("/v1/test_clocks", body, headers=headers)
    assert first.status_code == 201
    table = table_of(IdempotencyRecord)
    mine = table.c.key == headers["Idempotency-Key"]

    async def set_record(**values: Any) -> None:
        async with database.transaction() as session:
            await session.execute(update(table).where(mine).values(**values))

    # As if the first request crashed after claiming the key, before storing its response.
    unfinished = {"status_code": None, "content_type": None, "body": None, "completed_at": None}
    await set_record(**unfinished, created_at=datetime.now(UTC))
    busy = await api.post("/v1/test_clocks", body, headers=headers)
    assert_problem(busy, 409, "idempotency_key_in_use")

    await set_record(created_at=datetime.now(UTC) - timedelta(minutes=10))
    retried = await api.post("/v1/test_clocks", body, headers=headers)
    assert retried.status_code == 201
    assert REPLAYED not in retried.headers  # it ran again
    assert retried.json()["id"] != first.json()["id"]
    replay = await api.post("/v1/test_clocks", body, headers=headers)
    assert (replay.status_code, replay.content) == (201, retried.content)
    assert replay.headers[REPLAYED] == "true"


# --- Checkout claims its key in its own transactions (access/idempotency.py) ----------------


async def test_concurrent_retries_of_one_subscribe_charge_once(
    api: Api, database: Database
) -> None:
    customer = await api.customer()
    headers = key()
    body = {"customer": customer, "plan": SUB, "payment_method": "pm_card_visa"}
    responses = await asyncio.gather(
        *(api.post("/v1/subscriptions", body, headers=headers) for _ in range(4))
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    winner = [r for r in responses if r.status_code == 201 and REPLAYED not in r.headers]
    assert len(winner) == 1, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "idempotency_key_in_use")
        else:
            assert response.content == winner[0].content
    late = await api.post("/v1/subscriptions", body, headers=headers)
    assert (late.status_code, late.content) == (201, winner[0].content)
    assert late.headers[REPLAYED] == "true"
    subs = await api.ok("GET", "/v1/subscriptions", customer=customer)
    assert [s["id"] for s in subs["data"]] == [winner[0].json()["id"]]
    async with database.read() as session:
        charges = await session.scalar(
            text("SELECT count(*) FROM sandbox_charges WHERE customer_id = :c"), {"c": customer}
        )
        stored = await session.scalar(
            text("SELECT count(*) FROM idempotency_records WHERE key = :k AND body IS NOT NULL"),
            {"k": headers["Idempotency-Key"]},
        )
    assert (charges, stored) == (1, 1)


async def test_a_subscribe_refused_inside_its_transaction_is_replayed(api: Api) -> None:
    customer = await api.customer()
    body = {"customer": customer, "plan": SUB, "payment_method": "pm_card_visa"}
    assert (await api.post("/v1/subscriptions", body, headers=key())).status_code == 201
    headers = key()
    first = await api.post("/v1/subscriptions", body, headers=headers)
    assert_problem(first, 409, "subscription_exists")
    again = await api.post("/v1/subscriptions", body, headers=headers)
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers[REPLAYED] == "true"
    other = {**body, "plan": "premium_individual_yearly"}
    assert_problem(
        await api.post("/v1/subscriptions", other, headers=headers), 422, "idempotency_key_reused"
    )


async def test_a_subscribe_answer_is_stored_with_its_outcome(
    api: Api, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second transaction stores outcome and answer together: the gate's own finishing
    transaction is not needed (and would fail here)."""
    from tenure.api import gate

    async def no_finish(*args: Any) -> None:
        raise AssertionError("the gate finished a key checkout had completed")

    monkeypatch.setattr(gate, "_finish", no_finish)
    customer = await api.customer()
    headers = key()
    body = {"customer": customer, "plan": SUB, "payment_method": "pm_card_visa"}
    first = await api.post("/v1/subscriptions", body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "active"
    again = await api.post("/v1/subscriptions", body, headers=headers)
    assert (again.status_code, again.content) == (201, first.content)
    trial = {"customer": await api.customer(), "plan": SUB, "trial": True}
    trial["payment_method"] = "pm_card_visa"
    started = await api.post("/v1/subscriptions", trial, headers=(headers := key()))
    assert started.status_code == 201, started.text
    assert started.json()["status"] == "trialing"
    replay = await api.post("/v1/subscriptions", trial, headers=headers)
    assert (replay.status_code, replay.content) == (201, started.content)
