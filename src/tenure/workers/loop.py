"""The worker loop. Runs inside ``tenure serve`` or as any number of ``tenure worker`` processes.

Each pass: process due subscriptions in batches until none are left, resolve payment attempts
whose caller crashed, and number newly committed outbox events. Every step is idempotent and
claims its rows, so running two workers at once is safe (and on PostgreSQL, useful).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from tenure.events.sequencer import sequence_pending
from tenure.flows import grants, provider_events, store_reconcile
from tenure.flows.collect import recover_stale
from tenure.flows.due import BATCH_SIZE, run_due
from tenure.flows.refunds import recover_refunds
from tenure.flows.runtime import Runtime
from tenure.observability import WORKER_FAILURES, WORKER_ITEMS, WORKER_STEP_SECONDS, tracing
from tenure.observability.metrics import BATCH_SECONDS
from tenure.workers.housekeeping import Housekeeper
from tenure.workers.relay import relay_forever

log = structlog.get_logger(__name__)
# Pruning what is no longer kept (workers/housekeeping.py), at most once a minute per process.
_housekeeper = Housekeeper()


@dataclass
class Pass:
    handled: int = 0
    failed: list[str] = field(default_factory=list)  # names of the steps that raised


async def run_once(runtime: Runtime, *, batch_size: int = BATCH_SIZE) -> int:
    """One pass over all due work in real time; returns how many items it handled."""
    return (await run_pass(runtime, batch_size=batch_size)).handled


async def run_pass(
    runtime: Runtime, *, batch_size: int = BATCH_SIZE, stop: asyncio.Event | None = None
) -> Pass:
    """One pass over all due work in real time.

    Each step runs on its own: a failure in one (logged as one line) does not hold back the
    others. Once ``stop`` is set no new batch or step starts; the batch in progress finishes.
    """

    async def renewals() -> int:
        handled = 0
        while True:
            started = time.perf_counter()
            with tracing.span("worker.due_batch") as span:
                processed = await run_due(
                    runtime,
                    test_clock_id=None,
                    now=runtime.clock.now(),
                    actor="worker",
                    limit=batch_size,
                )
                span.set_attribute("tenure.handled", processed)
            BATCH_SECONDS.labels("due_work").observe(time.perf_counter() - started)
            handled += processed
            if processed < batch_size or (stop is not None and stop.is_set()):
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
        ("housekeeping", lambda: _housekeeper(runtime.db)),
    ]
    result = Pass()
    for name, step in steps:
        if stop is not None and stop.is_set():
            break
        started = time.perf_counter()
        with tracing.poll(f"worker.{name}") as span:
            try:
                done = await step()
            except Exception as error:
                WORKER_FAILURES.labels(name).inc()
                log.error("worker.step_failed", step=name, exc_info=error)
                tracing.failed(span, error)
                result.failed.append(name)
                continue
            finally:
                WORKER_STEP_SECONDS.labels(name).observe(time.perf_counter() - started)
            tracing.mark(span, done)
        WORKER_ITEMS.labels(name).inc(done)
        result.handled += done
    return result


async def sequence_events(runtime: Runtime) -> int:
    total = 0
    while True:
        async with runtime.db.transaction() as session:
            numbered = await sequence_pending(session)
        total += numbered
        if numbered == 0:
            return total


async def run_forever(
    runtime: Runtime, *, interval: float, stop: asyncio.Event, relay: bool = True
) -> None:
    log.info("worker.started", interval=interval, relay=relay)
    # The relay (NATS, webhooks) runs beside due work so slow receivers never delay renewals;
    # ``tenure worker --no-relay`` leaves it to ``tenure relay`` processes.
    relaying = (
        asyncio.create_task(relay_forever(runtime, stop=stop, interval=interval)) if relay else None
    )
    while not stop.is_set():
        try:
            handled = (await run_pass(runtime, stop=stop)).handled
        except Exception as error:  # a failed pass is retried on the next one
            log.error("worker.pass_failed", exc_info=error)
            handled = 0
        if handled == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    if relaying is not None:
        await relaying
    log.info("worker.stopped")
