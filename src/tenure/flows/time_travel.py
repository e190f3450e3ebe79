"""Advancing a test clock: run, in time order, all work that falls due up to the target."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import func, select

from tenure.entitlements import grants
from tenure.flows import grants as grant_flows
from tenure.flows.due import run_due
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import Conflict
from tenure.subscriptions.models import Subscription
from tenure.testclocks import service as testclocks

# A runaway guard, far above any real use (ten years of daily renewals is ~3,650 steps).
MAX_STEPS: Final = 100_000


async def advance(runtime: Runtime, *, clock_id: str, to: datetime) -> None:
    """Move ``clock_id`` to ``to``; returns when every due step up to then is done.

    The clock stops at each moment something falls due (a trial notice, a renewal, an expiry),
    so work happens at the business time it would have in real life, in order.
    """
    async with runtime.db.transaction() as session:
        current = await testclocks.begin_advance(
            session, clock_id, to, wall_now=runtime.clock.now()
        )
    actor = f"test_clock:{clock_id}"
    reached = False
    try:
        for _ in range(MAX_STEPS):
            step = await _next_due(runtime, clock_id)
            if step is None or step > to:
                reached = True
                break
            step = max(step, current)
            async with runtime.db.transaction() as session:
                await testclocks.set_time(
                    session, clock_id, step, done=False, wall_now=runtime.clock.now()
                )
            current = step
            await run_due(runtime, test_clock_id=clock_id, now=step, actor=actor)
            await grant_flows.end_due(runtime, test_clock_id=clock_id, now=step)
        else:
            raise Conflict(f"test clock {clock_id} did not settle", code="test_clock_runaway")
    finally:
        # On failure the clock stays at the last step that completed, ready to advance again.
        async with runtime.db.transaction() as session:
            await testclocks.set_time(session, clock_id, to if reached else current, done=True)


async def _next_due(runtime: Runtime, clock_id: str) -> datetime | None:
    async with runtime.db.read() as session:
        subscription: datetime | None = await session.scalar(
            select(func.min(Subscription.next_action_at)).where(
                Subscription.test_clock_id == clock_id
            )
        )
        grant = await grants.next_end(session, clock_id)
    return min((t for t in (subscription, grant) if t is not None), default=None)
