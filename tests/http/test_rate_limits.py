"""Rate limits through the API: 429 with Retry-After and RateLimit-* headers, per key and
route class, on the entitlement fast path too, and one budget shared by two app instances
through Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from tenure.api.app import create_app
from tenure.settings import Settings
from tests.support.api import API_KEY, AUTH, Api


def _settings(database_url: str, limits: str, redis_url: str | None = None) -> Settings:
    return Settings(
        database_url=database_url,
        api_key=API_KEY,
        embedded_worker=False,
        migrate=False,
        rate_limits=limits,
        redis_url=redis_url,
    )


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[Api]:
    settings = _settings(database_url, "read=1/3,write=100/100,entitlements=1/2")
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Api(client)


async def test_a_key_over_its_budget_gets_429_with_headers(limited: Api) -> None:
    remaining = []
    for _ in range(3):
        response = await limited.get("/v1/customers")
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "3"
        remaining.append(response.headers["ratelimit-remaining"])
    assert remaining == ["2", "1", "0"]
    refused = await limited.get("/v1/customers")
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
    assert int(refused.headers["ratelimit-reset"]) >= 1
    # Writes are another route class: their own budget.
    created = await limited.post("/v1/api_keys", {"name": "other", "scopes": ["customers:read"]})
    assert created.status_code == 201
    # Another key has its own budget.
    other = {"Authorization": f"Bearer {created.json()['secret']}"}
    assert (await limited.client.get("/v1/customers", headers=other)).status_code == 200
    # Unauthenticated requests are refused before any budget is looked at.
    assert (await limited.client.get("/v1/customers")).status_code == 401


async def test_the_entitlement_fast_path_is_limited_too(limited: Api) -> None:
    external = f"user-{uuid.uuid4().hex[:8]}"
    await limited.customer(external_id=external)
    statuses = []
    for _ in range(4):
        response = await limited.client.get(f"/v1/entitlements/{external}", headers=AUTH)
        statuses.append(response.status_code)
        assert response.headers["ratelimit-limit"] == "2"
    assert statuses == [200, 200, 429, 429]


@pytest.mark.redis
async def test_two_app_instances_share_one_budget_through_redis(
    database_url: str, redis_url: str
) -> None:
    settings = _settings(database_url, "read=0.5/4", redis_url)
    async with (
        AsyncTestClient(app=create_app(settings)) as first,
        AsyncTestClient(app=create_app(settings)) as second,
    ):
        # A fresh key, so earlier runs' buckets in the shared Redis do not count.
        created = await first.post(
            "/v1/api_keys", json={"name": "shared", "scopes": ["customers:read"]}, headers=AUTH
        )
        auth = {"Authorization": f"Bearer {created.json()['secret']}"}
        statuses = []
        for n in range(8):
            client = first if n % 2 == 0 else second
            statuses.append((await client.get("/v1/customers", headers=auth)).status_code)
    assert statuses.count(200) == 4 and statuses.count(429) == 4, statuses
    assert statuses[:4] == [200, 200, 200, 200]


async def test_an_unreachable_redis_does_not_take_the_api_down(database_url: str) -> None:
    # Nothing listens on port 1: every limiter call fails; requests are served unlimited.
    settings = _settings(database_url, "read=1/1", "redis://127.0.0.1:1/0")
    async with AsyncTestClient(app=create_app(settings)) as client:
        for _ in range(3):
            response = await client.get("/v1/customers", headers=AUTH)
            assert response.status_code == 200
            assert "ratelimit-limit" not in response.headers
