"""Test clocks: create, read, and the bookkeeping of an advance (the work itself is a flow)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, InvalidRequest, NotFound
from tenure.kernel.ids import new_id
from tenure.testclocks.models import TestClock

# An advance that has not finished a step for this long crashed; a retry takes it over.
ADVANCE_LEASE: Final = timedelta(seconds=30)


class ClockNotFound(NotFound):
    code = "test_clock_not_found"


async def create(
    session: AsyncSession, *, frozen_time: datetime, name: str | None, created_at: datetime
) -> TestClock:
    clock = TestClock(
        id=new_id("clock"),
        name=name,
        frozen_time=frozen_time,
        status="ready",
        created_at=created_at,
    )
    session.add(clock)
    await session.flush()
    return clock


async def get(session: AsyncSession, clock_id: str) -> TestClock:
    clock = await session.get(TestClock, clock_id)
    if clock is None:
        raise ClockNotFound(f"no test clock {clock_id!r}")
    return clock


async def frozen_times(session: AsyncSession, clock_ids: set[str]) -> dict[str, datetime]:
    if not clock_ids:
        return {}
    rows = await session.execute(
        select(TestClock.id, TestClock.frozen_time).where(TestClock.id.in_(clock_ids))
    )
    return {row.id: row.frozen_time for row in rows}


async def begin_advance(
    session: AsyncSession, clock_id: str, target: datetime, *, wall_now: datetime
) -> datetime:
    """Mark the clock as advancing; refuses a concurrent advance and moving backwards.

    An advance whose lease ran out (its process died mid-way) is taken over: the clock stands
    at the last step that completed, and this advance carries on from there.
    """
    clock = await get(session, clock_id)
    if target < clock.frozen_time:
        raise InvalidRequest(
            f"test clocks only move forward: {clock_id} is at {rfc3339(clock.frozen_time)}",
            code="test_clock_backwards",
        )
    claimed = await session.execute(
        update(TestClock)
        .where(
            TestClock.id == clock_id,
            or_(
                TestClock.status == "ready",
                TestClock.advance_lease_until.is_(None),
                TestClock.advance_lease_until < wall_now,
            ),
        )
        .values(status="advancing", advance_lease_until=wall_now + ADVANCE_LEASE)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise Conflict(
            f"test clock {clock_id} is already advancing; wait for that call to return (an "
            f"advance interrupted by a crash can be retried after {ADVANCE_LEASE.seconds} s)",
            code="test_clock_advancing",
        )
    return clock.frozen_time


async def set_time(
    session: AsyncSession,
    clock_id: str,
    at: datetime,
    *,
    done: bool,
    wall_now: datetime | None = None,
) -> None:
    """Move the clock; ``done`` ends the advance, else its lease is renewed from ``wall_now``."""
    values: dict[str, object] = {"frozen_time": at}
    if done:
        values["status"] = "ready"
        values["advance_lease_until"] = None
    elif wall_now is not None:
        values["advance_lease_until"] = wall_now + ADVANCE_LEASE
    await session.execute(update(TestClock).where(TestClock.id == clock_id).values(**values))
