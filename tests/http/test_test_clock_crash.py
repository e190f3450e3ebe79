"""Issue 10: a test-clock advance interrupted by a crash can be retried, and finishes.

The process running an advance died (kill -9: no ``finally`` ran): the clock stayed
``advancing`` until someone edited the database. Now the advance holds a lease renewed at every
step; once it runs out, a retry takes the advance over from the last completed step.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient

from tenure.api.app import create_app
from tenure.db.engine import Database
from tenure.settings import Settings
from tenure.testclocks import service as testclocks
from tests.http.test_bad_input import assert_problem
from tests.support.api import API_KEY, Api
from tests.support.clock import JumpClock


@pytest.fixture
async def jumping(database_url: str) -> AsyncIterator[tuple[Api, JumpClock]]:
    clock = JumpClock()
    settings = Settings(
        database_url=database_url, api_key=API_KEY, embedded_worker=False, migrate=False
    )
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as client:
        yield Api(client), clock


async def test_a_crashed_advance_is_taken_over_after_its_lease(
    jumping: tuple[Api, JumpClock], database_url: str
) -> None:
    api, wall = jumping
    clock = await api.clock("2025-01-31T10:00:00Z")
    customer = await api.customer(clock)
    sub = await api.subscribe(customer)

    # Another process began advancing this clock, then died without a word.
    crashed = Database(database_url)
    async with crashed.transaction() as session:
        await testclocks.begin_advance(
            session, clock, datetime(2025, 3, 15, tzinfo=UTC), wall_now=wall.now()
        )
    await crashed.dispose()
    shown = await api.ok("GET", f"/v1/test_clocks/{clock}")
    assert shown["status"] == "advancing"

    busy = await api.post(
        f"/v1/test_clocks/{clock}/advance", {"frozen_time": "2025-03-15T00:00:00Z"}
    )
    assert_problem(busy, 409, "test_clock_advancing")

    wall.jump(testclocks.ADVANCE_LEASE + timedelta(seconds=1))
    done = await api.advance(clock, "2025-03-15T00:00:00Z")
    assert done["status"] == "ready"
    assert done["frozen_time"] == "2025-03-15T00:00:00Z"
    # The work the crashed advance never did was done: the renewal of 28 February.
    invoices = await api.invoices(customer)
    assert len(invoices) == 2, [i["id"] for i in invoices]
    assert all(i["status"] == "paid" for i in invoices)
    assert (await api.subscription(sub["id"]))["status"] == "active"
