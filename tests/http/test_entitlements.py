"""Entitlements as a projection: ETag and 304, Cache-Control, the batch read, and grants."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import AUTH, Api

START = "2025-01-15T09:00:00Z"


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def ent(api: Api, customer: str) -> dict[str, Any]:
    body: dict[str, Any] = await api.ok("GET", f"/v1/customers/{customer}/entitlements")
    return body


async def test_etag_and_if_none_match(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock, external_id="ext-etag")
    first = await api.get(f"/v1/customers/{customer}/entitlements")
    assert first.status_code == 200
    assert first.headers["cache-control"].startswith("private, max-age=")
    etag = first.headers["etag"]
    assert first.json()["source"] == "free" and first.json()["version"] == 1

    headers = {**AUTH, "If-None-Match": etag}
    same = await api.client.get(f"/v1/customers/{customer}/entitlements", headers=headers)
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == etag
    by_external = await api.client.get("/v1/entitlements/ext-etag", headers=headers)
    assert by_external.status_code == 304

    await api.subscribe(customer)
    changed = await api.client.get(f"/v1/customers/{customer}/entitlements", headers=headers)
    assert changed.status_code == 200, "a change must never be answered with 304"
    assert changed.headers["etag"] != etag
    body = changed.json()
    assert (body["product"], body["source"], body["version"]) == (
        "premium_individual",
        "subscription",
        2,
    )
    assert body["feature_values"]["audiobook_hours"] == 15
    events = await api.events(customer=customer, type="entitlements.changed")
    assert [e["data"]["version"] for e in events] == [2]
    assert events[0]["data"]["previous"]["product"] == "free"


async def test_batch_by_customer_and_external_id(api: Api) -> None:
    clock = await api.clock(START)
    paid = await api.customer(clock, external_id="ext-paid")
    free = await api.customer(clock, external_id="ext-free")
    await api.subscribe(paid, plan="premium_duo_monthly")
    body = await api.ok(
        "POST", "/v1/entitlements/batch", {"customers": [paid, free, "cus_missing", paid]}
    )
    assert [row["customer"] for row in body["data"]] == [paid, free]
    assert [row["product"] for row in body["data"]] == ["premium_duo", "free"]
    assert body["missing"] == ["cus_missing"]
    body = await api.ok("POST", "/v1/entitlements/batch", {"external_ids": ["ext-free", "nope"]})
    assert [row["external_id"] for row in body["data"]] == ["ext-free"]
    assert body["missing"] == ["nope"]

    problem(await api.post("/v1/entitlements/batch", {}), 422, "invalid_batch")
    problem(
        await api.post("/v1/entitlements/batch", {"customers": [], "external_ids": []}),
        422,
        "invalid_batch",
    )
    too_many = {"customers": [f"cus_{i}" for i in range(501)]}
    problem(await api.post("/v1/entitlements/batch", too_many), 422, "invalid_batch")
    problem(await api.post("/v1/entitlements/batch", {"customers": "x"}), 422, "invalid_request")


async def test_unknown_customers_are_404(api: Api) -> None:
    problem(await api.get("/v1/entitlements/nobody"), 404, "customer_not_found")
    problem(
        await api.get("/v1/customers/cus_01M8AFWG6PWCM36GFYBWBTDV1V/entitlements"),
        404,
        "customer_not_found",
    )
    problem(await api.get("/v1/customers/bad/entitlements"), 404, "customer_not_found")


async def test_a_grant_shows_ends_on_time_and_can_be_revoked(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    grant = await api.ok(
        "POST",
        f"/v1/customers/{customer}/grants",
        {"product": "premium_family", "days": 10, "reason": "outage compensation"},
    )
    assert (grant["status"], grant["ends_at"]) == ("active", "2025-01-25T09:00:00Z")
    now = await ent(api, customer)
    assert (now["source"], now["product"], now["grant"], now["valid_until"]) == (
        "grant",
        "premium_family",
        grant["id"],
        "2025-01-25T09:00:00Z",
    )
    await api.advance(clock, "2025-01-25T08:59:59Z")
    assert (await ent(api, customer))["source"] == "grant"
    await api.advance(clock, "2025-01-25T09:00:00Z")
    assert (await ent(api, customer))["source"] == "free"
    listed = await api.ok("GET", f"/v1/customers/{customer}/grants")
    assert [g["status"] for g in listed["data"]] == ["ended"]

    second = await api.ok(
        "POST",
        f"/v1/customers/{customer}/grants",
        {"product": "premium_individual", "ends_at": "2025-03-01T00:00:00Z", "reason": "vip"},
    )
    assert (await ent(api, customer))["source"] == "grant"
    revoked = await api.client.delete(
        f"/v1/customers/{customer}/grants/{second['id']}", headers=AUTH
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert (await ent(api, customer))["source"] == "free"
    again = await api.client.delete(f"/v1/customers/{customer}/grants/{second['id']}", headers=AUTH)
    problem(again, 409, "grant_not_active")
    types = [e["type"] for e in await api.events(customer=customer)]
    for expected in ("grant.created", "grant.ended", "grant.revoked", "entitlements.changed"):
        assert expected in types


async def test_a_paid_subscription_wins_over_a_lesser_grant(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    await api.subscribe(customer)  # premium_individual
    await api.ok(
        "POST",
        f"/v1/customers/{customer}/grants",
        {"product": "premium_student", "days": 30, "reason": "courtesy"},
    )
    assert (await ent(api, customer))["source"] == "subscription"
    await api.ok(
        "POST",
        f"/v1/customers/{customer}/grants",
        {"product": "premium_family", "days": 5, "reason": "family trial"},
    )
    assert (await ent(api, customer))["product"] == "premium_family"
    await api.advance(clock, "2025-01-21T09:00:00Z")
    after = await ent(api, customer)
    assert (after["source"], after["product"]) == ("subscription", "premium_individual")


async def test_bad_grants_are_refused_with_codes(api: Api) -> None:
    clock = await api.clock(START)
    customer = await api.customer(clock)
    path = f"/v1/customers/{customer}/grants"
    base = {"product": "premium_individual", "reason": "x"}
    problem(await api.post(path, {**base, "product": "free", "days": 3}), 422, "unknown_product")
    problem(await api.post(path, {**base, "product": "gold", "days": 3}), 422, "unknown_product")
    problem(await api.post(path, base), 422, "invalid_grant_period")
    problem(
        await api.post(path, {**base, "days": 3, "ends_at": "2025-03-01T00:00:00Z"}),
        422,
        "invalid_grant_period",
    )
    problem(await api.post(path, {**base, "days": 0}), 422, "invalid_grant_period")
    problem(
        await api.post(path, {**base, "ends_at": "2025-01-01T00:00:00Z"}),
        422,
        "invalid_grant_period",
    )
    problem(
        await api.post(path, {**base, "ends_at": "2025-03-01T00:00:00"}), 422, "invalid_timestamp"
    )
    problem(await api.post(path, {**base, "reason": " ", "days": 3}), 422, "invalid_grant_reason")
    problem(
        await api.post("/v1/customers/cus_01M8AFWG6PWCM36GFYBWBTDV1V/grants", {**base, "days": 3}),
        404,
        "customer_not_found",
    )
    missing = await api.client.delete(f"{path}/grt_01M8AFWG6PWCM36GFYBWBTDV1V", headers=AUTH)
    problem(missing, 404, "grant_not_found")
