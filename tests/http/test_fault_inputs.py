"""Issue 10: the reproducible 500s, each answered as a clean 4xx problem+json.

Each case is one input that answered 500 (or hung) before: integers wider than their column,
JSON nested a thousand deep, an over-long path or Idempotency-Key, and racing subscribes of
one customer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.http.test_bad_input import assert_problem
from tests.support.api import AUTH, Api

JSON = {**AUTH, "content-type": "application/json"}
BIG = [2**31, 2**63, 10**30]


def promo(**overrides: Any) -> dict[str, Any]:
    return {"code": "BIGNUM", "percent_off": "10", "duration": "once", **overrides}


@pytest.mark.parametrize("value", BIG, ids=["2^31", "2^63", "10^30"])
@pytest.mark.parametrize("field", ["max_redemptions", "duration_periods"])
async def test_counts_beyond_32_bits_are_422_naming_the_field(
    api: Api, field: str, value: int
) -> None:
    body = promo(**{field: value}, duration="repeating" if field == "duration_periods" else "once")
    response = await api.post("/v1/promo_codes", body)
    problem = assert_problem(response, 422)
    assert field in problem["detail"], problem


@pytest.mark.parametrize("value", [2**63, 10**30], ids=["2^63", "10^30"])
async def test_money_beyond_64_bits_is_422_naming_the_field(api: Api, value: int) -> None:
    body = promo(percent_off=None, amount_off=value, currency="SEK")
    problem = assert_problem(await api.post("/v1/promo_codes", body), 422)
    assert "amount_off" in problem["detail"], problem


async def test_money_beyond_32_bits_fits_its_column(api: Api) -> None:
    body = promo(code="IDR", percent_off=None, amount_off=2**31 + 5, currency="SEK")
    response = await api.post("/v1/promo_codes", body)
    assert response.status_code == 201, response.text
    assert response.json()["amount_off"] == 2**31 + 5


async def test_other_request_integers_are_bounded(api: Api) -> None:
    customer = await api.customer()
    grant = await api.post(
        f"/v1/customers/{customer}/grants",
        {"product": "premium", "reason": "goodwill", "days": 2**31},
    )
    assert "days" in assert_problem(grant, 422)["detail"]
    clock = await api.clock()
    member = await api.customer(clock)
    sub = await api.subscribe(member)
    refund = await api.post(
        f"/v1/invoices/{sub['latest_invoice']}/refund", {"reason": "x", "amount": 2**63}
    )
    assert "amount" in assert_problem(refund, 422)["detail"]


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
async def test_deeply_nested_json_is_400(api: Api, depth: int) -> None:
    raw = b'{"metadata": ' + b"[" * depth + b"]" * depth + b"}"
    response = await api.client.post("/v1/customers", content=raw, headers=JSON)
    assert_problem(response, 400, "json_too_deep")
    keyed = await api.client.post(
        "/v1/customers", content=raw, headers={**JSON, "Idempotency-Key": "deep-1"}
    )
    assert_problem(keyed, 400, "json_too_deep")


async def test_shallow_json_is_not_refused_for_depth(api: Api) -> None:
    raw = b'{"external_id": "d", "email": "a@b.se", "market": "SE", "metadata": {"a": "[[[[["}}'
    response = await api.client.post("/v1/customers", content=raw, headers=JSON)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("length", [501, 5_000])
async def test_long_paths_with_an_idempotency_key_are_404(api: Api, length: int) -> None:
    path = "/v1/subscriptions/" + "s" * length + "/cancel"
    response = await api.client.post(
        path, json={}, headers={**AUTH, "Idempotency-Key": "long-path"}
    )
    assert response.status_code in (404, 414), response.text
    assert_problem(response, response.status_code)


async def test_very_long_paths_are_414(api: Api) -> None:
    response = await api.client.get("/v1/customers/" + "c" * 9000, headers=AUTH)
    assert_problem(response, 414, "uri_too_long")


@pytest.mark.parametrize("key", ["", "k" * 256, "k" * 10_000])
async def test_idempotency_keys_out_of_bounds_are_400(api: Api, key: str) -> None:
    response = await api.client.post(
        "/v1/test_clocks",
        json={"frozen_time": "2025-01-01T00:00:00Z"},
        headers={**AUTH, "Idempotency-Key": key},
    )
    assert_problem(response, 400, "invalid_idempotency_key")


async def test_concurrent_subscribes_of_one_customer_are_201_or_409(api: Api) -> None:
    customer = await api.customer()
    body = {
        "customer": customer,
        "plan": "premium_individual_monthly",
        "payment_method": "pm_card_visa",
    }

    async def one(i: int, keyed: bool) -> Any:
        headers = {**AUTH, "Idempotency-Key": f"race-{i}"} if keyed else AUTH
        return await api.client.post("/v1/subscriptions", json=body, headers=headers)

    responses = await asyncio.gather(*(one(i, i % 2 == 0) for i in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [(r.status_code, r.text) for r in responses]
    assert statuses.count(201) == 1, statuses
    winner = next(r for r in responses if r.status_code == 201).json()
    subs = await api.ok("GET", "/v1/subscriptions", customer=customer)
    assert [s["id"] for s in subs["data"]] == [winner["id"]]


async def test_a_declared_body_over_the_limit_is_413_before_reading(api: Api) -> None:
    raw = b'{"external_id": "' + b"x" * 1_100_000 + b'"}'
    for headers in (JSON, {**JSON, "Idempotency-Key": "big-1"}):
        response = await api.client.post("/v1/customers", content=raw, headers=headers)
        assert_problem(response, 413, "body_too_large")


async def test_a_streamed_body_stops_being_read_at_the_limit() -> None:
    """A chunked body with an Idempotency-Key: read only until it passes the limit."""
    from tenure.api.limits import limited
    from tenure.fault_settings import FaultSettings

    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"[" * 65_536, "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the application must not run")

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/customers",
        "headers": [(b"idempotency-key", b"stream-1"), (b"transfer-encoding", b"chunked")],
    }
    await limited(inner, FaultSettings(max_body_bytes=1_048_576))(scope, receive, send)
    assert sent[0]["status"] == 413
    assert pulled == 17  # 16 chunks fit in 1 MiB; the 17th passes it, and reading stops


async def test_a_body_cut_short_is_400() -> None:
    from tenure.api.limits import limited
    from tenure.fault_settings import FaultSettings

    messages = iter(
        [
            {"type": "http.request", "body": b'{"a": ', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> Any:
        return next(messages)

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the application must not run")

    scope = {"type": "http", "method": "POST", "path": "/v1/customers", "headers": []}
    await limited(inner, FaultSettings())(scope, receive, send)
    assert sent[0]["status"] == 400
    assert b"malformed_body" in sent[1]["body"]


async def test_oversized_headers_are_431(api: Api) -> None:
    response = await api.client.get("/v1/customers", headers={**AUTH, "X-Padding": "p" * 20_000})
    assert_problem(response, 431, "headers_too_large")
