"""Price increases with notice and consent, on test clocks, through the HTTP API.

The default catalog plus a price version "2025-spring" of Premium Individual monthly effective
2025-03-01 (US 12.99 USD, was 11.99; GB 12.99 GBP, was 11.99). US consent is notice only, GB
opt-in (the default catalog's rule); notice is 30 days.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tenure.api.app import create_app
from tenure.catalog.loader import default_catalog_path
from tenure.settings import Settings
from tests.support.api import API_KEY, Api

PLAN = "premium_individual_monthly"
VERSION = """
[[price_versions]]
plan = "premium_individual_monthly"
version = "2025-spring"
effective_from = "2025-03-01T00:00:00Z"
[price_versions.prices]
US = "12.99"
GB = "12.99"
"""


@pytest.fixture
async def priced(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(default_catalog_path().read_text() + VERSION)
    settings = Settings(
        database_url=database_url,
        api_key=API_KEY,
        embedded_worker=False,
        migrate=False,
        catalog_path=str(catalog),
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Api(client)


async def _plan_lines(api: Api, customer: str) -> list[tuple[str, int]]:
    found = sorted(await api.invoices(customer), key=lambda i: i["period_start"])
    return [(i["period_start"][:10], i["lines"][0]["amount"]) for i in found]


async def _change(api: Api, market: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = await api.ok(
        "POST",
        "/v1/price_changes",
        {"plan": PLAN, "market": market, "version": "2025-spring", **extra},
    )
    return body


async def test_notice_only_price_increase_with_a_grandfathered_cohort(priced: Api) -> None:
    api = priced
    clock = await api.clock("2025-01-31T10:00:00Z")
    early = await api.customer(clock, market="US")
    await api.subscribe(early)
    await api.advance(clock, "2025-02-10T10:00:00Z")
    later = await api.customer(clock, market="US")
    sub = (await api.subscribe(later))["id"]

    change = await _change(api, "US", grandfather={"started_before": "2025-02-05T00:00:00Z"})
    assert (change["consent"], change["notice_days"]) == ("notice", 30)
    assert (change["scheduled"], change["grandfathered"]) == (1, 1)
    assert change["price"] == {"amount": 1299, "currency": "USD"}
    # Notice ends Mar 12: the first renewal from then on is Apr 10 (anchor Feb 10).
    pending = (await api.subscription(sub))["pending_price"]
    assert pending == {
        "amount": 1299,
        "currency": "USD",
        "effective_at": "2025-04-10T10:00:00Z",
        "consent": "notice",
    }
    scheduled = await api.events(type="subscription.price_change_scheduled", subscription=sub)
    assert scheduled[-1]["data"]["previous_price"] == {"amount": 1199, "currency": "USD"}

    await api.advance(clock, "2025-03-05T10:00:00Z")
    newcomer = await api.customer(clock, market="US")
    assert (await api.subscribe(newcomer))["price"]["amount"] == 1299  # the version in effect

    await api.advance(clock, "2025-05-11T10:00:00Z")
    assert await _plan_lines(api, later) == [
        ("2025-02-10", 1199),
        ("2025-03-10", 1199),
        ("2025-04-10", 1299),
        ("2025-05-10", 1299),
    ]
    assert {amount for _, amount in await _plan_lines(api, early)} == {1199}
    after = await api.subscription(sub)
    assert (after["price"]["amount"], after["pending_price"]) == (1299, None)
    applied = await api.events(type="subscription.price_change_applied", subscription=sub)
    assert len(applied) == 1

    again = await api.post(
        "/v1/price_changes", {"plan": PLAN, "market": "US", "version": "2025-spring"}
    )
    assert (again.status_code, again.json()["code"]) == (409, "price_change_exists")


async def test_opt_in_price_increase_accepted_or_not(priced: Api) -> None:
    api = priced
    clock = await api.clock("2025-01-31T10:00:00Z")
    accepting = await api.customer(clock, market="GB")
    declining = await api.customer(clock, market="GB")
    yes = (await api.subscribe(accepting))["id"]
    no = (await api.subscribe(declining))["id"]
    await api.advance(clock, "2025-02-01T10:00:00Z")
    change = await _change(api, "GB")
    assert (change["consent"], change["scheduled"]) == ("opt_in", 2)
    pending = (await api.subscription(no))["pending_price"]
    assert (pending["effective_at"], pending["consent"]) == ("2025-03-31T10:00:00Z", "opt_in")

    body = await api.ok("POST", f"/v1/subscriptions/{yes}/price_change/accept")
    assert body["pending_price"]["consent"] == "accepted"
    twice = await api.post(f"/v1/subscriptions/{yes}/price_change/accept")
    assert (twice.status_code, twice.json()["code"]) == (409, "price_change_already_accepted")

    await api.advance(clock, "2025-04-01T10:00:00Z")
    assert await _plan_lines(api, accepting) == [
        ("2025-01-31", 1199),
        ("2025-02-28", 1199),
        ("2025-03-31", 1299),
    ]
    ended = await api.subscription(no)
    assert (ended["status"], ended["ended_reason"], ended["ended_at"]) == (
        "expired",
        "price_change_declined",
        "2025-03-31T10:00:00Z",
    )
    assert ended["cancellation"] == {"reason": "price_change_declined", "comment": None}
    assert await _plan_lines(api, declining) == [("2025-01-31", 1199), ("2025-02-28", 1199)]
    expired = await api.events(type="subscription.expired", subscription=no)
    assert expired[-1]["data"]["reason"] == "price_change_declined"


async def test_price_change_refusals_change_nothing(priced: Api) -> None:
    api = priced
    customer = await api.customer(market="SE")
    sub = (await api.subscribe(customer))["id"]
    none = await api.post(f"/v1/subscriptions/{sub}/price_change/accept")
    assert (none.status_code, none.json()["code"]) == (409, "price_change_not_scheduled")
    for body, code in (
        ({"plan": PLAN, "market": "US", "version": "nope"}, "unknown_price_version"),
        ({"plan": PLAN, "market": "SE", "version": "2025-spring"}, "plan_unavailable_in_market"),
        ({"plan": "nope", "market": "US", "version": "2025-spring"}, "unknown_plan"),
    ):
        response = await api.post("/v1/price_changes", body)
        assert (response.status_code, response.json()["code"]) == (422, code)
    assert (await api.subscription(sub))["pending_price"] is None
