"""The worker loop. Runs inside ``tenure serve`` or as any number of ``tenure worker`` processes.

Each pass: process due subscriptions in batches until none are left, resolve payment attempts
whose caller crashed, and number newly committed outbox events. Every step is idempotent and
claims its rows, so running two workers at once is safe (and on PostgreSQL, useful).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from tenure.events.sequencer import sequence_pending
from tenure.flows import grants, provider_events, store_reconcile
from tenure.flows.collect import recover_stale
from tenure.flows.due import BATCH_SIZE, run_due
from tenure.flows.refunds import recover_refunds
from tenure.flows.runtime import Runtime
from tenure.observability import WORKER_FAILURES, WORKER_ITEMS
from tenure.workers.relay import relay_forever

log = structlog.get_logger(__name__)


async def run_once(runtime: Runtime, *, batch_size: int = BATCH_SIZE) -> int:
    """One pass over all due work in real time; returns how many items it handled.

    Each step runs on its own: a failure in one (logged) does not hold back the others.
    """

    async def renewals() -> int:
        handled = 0
        while True:
            processed = await run_due(
                runtime,
                test_clock_id=None,
                now=runtime.clock.now(),
                actor="worker",
                limit=batch_size,
            )
            handled += processed
            if processed < batch_size:
                return handled

    # Payments whose outcome is unknown are resolved first: after an outage, a subscription
    # whose first charge did go through must not be expired for want of a recorded outcome.
    steps: list[tuple[str, Callable[[], Awaitable[int]]]] = [
        ("payment_recovery", lambda: recover_stale(runtime)),
        ("due_work", renewals),
        (
            "grant_expiry",
            lambda: grants.end_due(runtime, test_clock_id=None, now=runtime.clock.now()),
        ),
        ("refund_recovery", lambda: recover_refunds(runtime)),
        ("provider_events", lambda: provider_events.process_pending(runtime)),
        ("store_notifications", lambda: store_reconcile.process_pending(runtime)),
        ("store_acknowledgements", lambda: store_reconcile.acknowledge_pending(runtime)),
        ("store_missed_notifications", lambda: store_reconcile.check_missed(runtime)),
        ("event_sequencing", lambda: sequence_events(runtime)),
    ]
    handled = 0
    for name, step in steps:
        try:
            done = await step()
        except Exception:
            WORKER_FAILURES.labels(name).inc()
            log.exception("worker.step_failed", step=name)
            continue
        WORKER_ITEMS.labels(name).inc(done)
        handled += done
    return handled


async def sequence_events(runtime: Runtime) -> int:
    total = 0
    while True:
        async with runtime.db.transaction() as session:
            numbered = await sequence_pending(session)
        total += numbered
        if numbered == 0:
            return total


async def run_forever(runtime: Runtime, *, interval: float, stop: asyncio.Event) -> None:
    log.info("worker.started", interval=interval)
    # The relay (NATS, webhooks) runs beside due work so slow receivers never delay renewals.
    relay = asyncio.create_task(relay_forever(runtime, stop=stop, interval=interval))
    while not stop.is_set():
        try:
            handled = await run_once(runtime)
        except Exception:  # a failed pass is retried on the next one; the loop must survive
            log.exception("worker.pass_failed")
            handled = 0
        if handled == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    await relay
    log.info("worker.stopped")
