"""Issue 10: PostgreSQL goes away behind a TCP proxy, refusing and then blackholing.

Entitlement reads answer the last known value (``Tenure-Stale: true``, batch reads too),
customers never read get 503, writes answer 503 with Retry-After, and every answer comes
within the configured bound (no 25-second hangs). When the proxy forwards again the API
recovers by itself, and nothing written before the outage is lost (``tenure check``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from tenure.api.app import build_runtime, create_app
from tenure.fault_settings import FaultSettings
from tenure.ops.invariants import run_checks
from tenure.settings import Settings
from tests.support.api import API_KEY, AUTH, Api
from tests.support.tcpproxy import ThreadedProxy

# Every answer during the outage comes within this many seconds (statement 1.5 s + margin).
BOUND = 5.0
FAULTS = FaultSettings(
    db_connect_timeout=1.0, db_statement_timeout=1.5, db_pool_timeout=1.0, retry_after=2
)


@pytest.fixture
async def proxied(database_url: str) -> AsyncIterator[tuple[ThreadedProxy, str]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the proxy stands in front of PostgreSQL")
    url = make_url(database_url)
    proxy = ThreadedProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    proxy.stop()


async def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "2"
    assert response.json()["code"] == "database_unavailable"


async def test_reads_stale_writes_503_then_recovery(
    proxied: tuple[ThreadedProxy, str], database_url: str
) -> None:
    proxy, url = proxied
    settings = Settings(
        database_url=url, api_key=API_KEY, embedded_worker=False, migrate=False, faults=FAULTS
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        api = Api(client)
        customer = await api.customer(external_id="outage-known")
        sub = await api.subscribe(customer)
        other = await api.customer(external_id="outage-never-read")
        before = await api.ok("GET", "/v1/entitlements/outage-known")
        assert before["product"] != "free"
        await api.ok("POST", "/v1/entitlements/batch", {"customers": [customer]})

        for fault in (proxy.refuse, proxy.blackhole):
            fault()
            await asyncio.sleep(1.1)  # past the in-process cache's TTL
            read, took = await timed(api.get("/v1/entitlements/outage-known"))
            assert read.status_code == 200, read.text
            assert read.headers["tenure-stale"] == "true"
            assert int(read.headers["age"]) >= 1
            assert read.json() == before
            assert took < BOUND, took
            by_id, took = await timed(api.get(f"/v1/customers/{customer}/entitlements"))
            assert by_id.status_code == 200 and by_id.headers["tenure-stale"] == "true"
            assert took < BOUND, took
            batch, took = await timed(api.post("/v1/entitlements/batch", {"customers": [customer]}))
            assert batch.status_code == 200, batch.text
            assert batch.headers["tenure-stale"] == "true"
            assert took < BOUND, took
            never, took = await timed(api.get("/v1/entitlements/outage-never-read"))
            assert_unavailable(never)
            assert took < BOUND, took
            write, took = await timed(
                api.post("/v1/customers", {"external_id": "x", "email": "x@e.se", "market": "SE"})
            )
            assert_unavailable(write)
            assert took < BOUND, took
            ready, took = await timed(client.get("/readyz"))
            assert ready.status_code == 503, ready.text  # take this process out of rotation
            assert took < BOUND, took
            assert (await client.get("/livez")).status_code == 200  # but do not restart it
            keyed, took = await timed(
                client.post(
                    f"/v1/subscriptions/{sub['id']}/cancel",
                    json={},
                    headers={**AUTH, "Idempotency-Key": f"outage-{fault.__name__}"},
                )
            )
            assert_unavailable(keyed)
            assert took < BOUND, took

        proxy.restore()
        deadline = time.monotonic() + 10
        while True:  # the pool drops broken connections and opens new ones
            created = await api.post(
                "/v1/customers", {"external_id": "after", "email": "a@e.se", "market": "SE"}
            )
            if created.status_code == 201 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert created.status_code == 201, created.text
        assert (await client.get("/readyz")).status_code == 200
        fresh = await api.get("/v1/entitlements/outage-never-read")
        assert fresh.status_code == 200 and "tenure-stale" not in fresh.headers
        assert fresh.json()["customer"] == other
        # The cancel keyed during the outage was not stored as done: it runs now.
        cancelled = await client.post(
            f"/v1/subscriptions/{sub['id']}/cancel",
            json={},
            headers={**AUTH, "Idempotency-Key": "outage-blackhole"},
        )
        assert cancelled.status_code == 200, cancelled.text
        assert (await api.subscription(sub["id"]))["cancel_at_period_end"] is True

    runtime = await build_runtime(Settings(database_url=database_url, migrate=False))
    try:
        failed = [r for r in await run_checks(runtime) if not r.ok]
    finally:
        await runtime.db.dispose()
    assert not failed, [(r.check, r.violations[:3]) for r in failed]
