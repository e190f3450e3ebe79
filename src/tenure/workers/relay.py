"""The relay: drains the outbox to NATS JetStream and to webhook endpoints.

Each pass, per kind of destination (a *sink*):

1. **fan-out**: committed events past the kind's cursor become ``event_deliveries`` rows
   (one per destination that wants them), and the cursor moves, in one transaction (on
   PostgreSQL the next events are numbered and fanned out while steps 2-4 deliver these);
2. **claim**: a batch of due deliveries is leased (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
   first in line per destination and subscription, and the transaction commits;
3. **send**, outside any transaction;
4. **mark**: outcomes are written in one executemany; failures get their next attempt from
   the sink's backoff policy, or are dead-lettered past its horizon.

A relay that dies between 2 and 4 loses nothing: its leases run out and another pass sends
those rows again, with the same event id (webhook-id, Nats-Msg-Id) so receivers and the
broker can drop the duplicate. Any number of relays can run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import msgspec
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.customers.models import Customer
from tenure.events import deliveries
from tenure.events.deliveries import Attempt, Claimed, EventRef, Result
from tenure.events.delivery_models import DEAD, DELIVERED, PENDING
from tenure.events.retry import RetryPolicy
from tenure.events.sequencer import sequence_pending
from tenure.flows.runtime import Runtime
from tenure.kernel.clock import rfc3339
from tenure.observability import tracing
from tenure.observability.metrics import BATCH_SECONDS, RELAY_OUTCOMES
from tenure.webhooks.egress import allow_private_from_env
from tenure.workers.jetstream import JetStreamSink
from tenure.workers.webhook_sink import CONCURRENCY as WEBHOOK_CONCURRENCY
from tenure.workers.webhook_sink import WebhookSink

log = structlog.get_logger(__name__)


class Sink(Protocol):
    kind: str  # the relay cursor's name and the deliveries' ``kind``
    policy: RetryPolicy
    lease: timedelta

    async def route(
        self, session: AsyncSession, events: Sequence[EventRef], now: datetime
    ) -> list[dict[str, Any]]:
        """The delivery rows for these events."""
        ...

    async def prepare(self, session: AsyncSession, claimed: Sequence[Claimed]) -> None:
        """Load what sending needs (endpoints, secrets) in the claim transaction."""
        ...

    async def send(
        self, claimed: Sequence[Claimed], bodies: dict[int, bytes]
    ) -> dict[int, Attempt]:
        """Attempt each claimed delivery; one left out was not attempted and is released."""
        ...

    async def settle(
        self,
        session: AsyncSession,
        claimed: Sequence[Claimed],
        attempts: dict[int, Attempt],
        now: datetime,
    ) -> None:
        """Anything the sink keeps besides the delivery rows (endpoint health)."""
        ...

    async def close(self) -> None: ...


BATCH_SIZE = 1000


def _positive_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


@dataclass
class RelayConfig:
    batch_size: int = BATCH_SIZE
    webhook_concurrency: int = WEBHOOK_CONCURRENCY
    nats_url: str | None = None
    nats_stream: str = "TENURE"
    nats_subject_prefix: str = "tenure"
    allow_private: bool = False

    @classmethod
    def from_env(cls) -> RelayConfig:
        return cls(
            batch_size=_positive_int("TENURE_RELAY_BATCH", BATCH_SIZE),
            webhook_concurrency=_positive_int("TENURE_WEBHOOK_CONCURRENCY", WEBHOOK_CONCURRENCY),
            nats_url=os.environ.get("TENURE_NATS_URL") or None,
            nats_stream=os.environ.get("TENURE_NATS_STREAM") or cls.nats_stream,
            nats_subject_prefix=os.environ.get("TENURE_NATS_SUBJECT_PREFIX")
            or cls.nats_subject_prefix,
            allow_private=allow_private_from_env(),
        )


def envelope(event: dict[str, Any], external_id: str | None) -> bytes:
    """The exact bytes a destination receives (and a webhook signature covers)."""
    return msgspec.json.encode(
        {
            "id": event["id"],
            "type": event["type"],
            "created": rfc3339(event["created"]),
            "schema_version": event["schema_version"],
            "sequence": event["sequence"],
            "customer": event["customer_id"],
            "external_id": external_id,
            "subscription": event["subscription_id"],
            "data": event["data"],
        }
    )


def result_of(
    claimed: Claimed, attempt: Attempt, now: datetime, policy: RetryPolicy, rng: random.Random
) -> Result:
    first = claimed.first_attempt_at or now
    attempts = claimed.attempts + 1
    next_at: datetime | None = now
    if not attempt.ok:
        next_at = policy.next_attempt(
            failures=attempts,
            first_attempt_at=first,
            now=now,
            rng=rng,
            at_least=attempt.retry_after,
        )
    status = DELIVERED if attempt.ok else (DEAD if next_at is None else PENDING)
    return Result(
        pk=claimed.pk,
        status=status,
        attempts=attempts,
        next_attempt_at=next_at or now,
        first_attempt_at=first,
        last_attempt_at=now,
        last_status_code=attempt.status_code,
        last_error=None if attempt.ok else (attempt.error or "failed")[:500],
        delivered_at=now if attempt.ok else None,
    )


@dataclass
class Relay:
    runtime: Runtime
    sinks: list[Sink]
    batch_size: int = BATCH_SIZE
    rng: random.Random = field(default_factory=random.Random)

    async def run_once(self) -> int:
        """One pass for every sink; returns how many events and deliveries it handled."""
        async with self.runtime.db.transaction() as session:
            handled = await sequence_pending(session)
        for sink in self.sinks:
            handled += await self.fan_out(sink)
            if not self.runtime.db.is_postgres:  # one writer at a time: nothing to overlap
                handled += await self.drain(sink)
                continue
            # The next events are numbered and fanned out while the due deliveries go out:
            # each is its own transaction, and a claim only sees deliveries whose earlier ones
            # are committed (fan-out inserts in position order), exactly as with two relays.
            outcomes = await asyncio.gather(
                self.drain(sink), self._next_batch(sink), return_exceptions=True
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
                handled += outcome
        return handled

    async def _next_batch(self, sink: Sink) -> int:
        async with self.runtime.db.transaction() as session:
            numbered = await sequence_pending(session)
        return numbered + await self.fan_out(sink)

    async def fan_out(self, sink: Sink) -> int:
        async with self.runtime.db.transaction() as session:
            cursor = await deliveries.lock_cursor(session, sink.kind)
            if cursor is None:
                return 0  # another relay is fanning out this kind right now
            events = await deliveries.events_after(session, cursor, self.batch_size)
            if not events:
                return 0
            rows = await sink.route(session, events, self.runtime.clock.now())
            await deliveries.enqueue(session, rows)
            await deliveries.set_cursor(session, sink.kind, events[-1].position)
        return len(events)

    async def drain(self, sink: Sink) -> int:
        token = uuid.uuid4().hex
        async with self.runtime.db.transaction() as session:
            claimed = await deliveries.claim(
                session,
                kind=sink.kind,
                now=self.runtime.clock.now(),
                limit=self.batch_size,
                lease=sink.lease,
                token=token,
            )
            external = await _external_ids(session, claimed)
            await sink.prepare(session, claimed)
        if not claimed:
            return 0
        started = time.perf_counter()
        with tracing.span(
            "relay.drain", attributes={"tenure.kind": sink.kind, "tenure.claimed": len(claimed)}
        ):
            await self._deliver(sink, claimed, external, token)
        BATCH_SECONDS.labels(f"relay_{sink.kind}").observe(time.perf_counter() - started)
        return len(claimed)

    async def _deliver(
        self, sink: Sink, claimed: list[Claimed], external: dict[str, str], token: str
    ) -> None:
        bodies = {
            c.pk: envelope(c.event, external.get(c.event["customer_id"] or "")) for c in claimed
        }
        attempts = await sink.send(claimed, bodies)
        now = self.runtime.clock.now()
        results = [
            result_of(c, attempts[c.pk], now, sink.policy, self.rng)
            for c in claimed
            if c.pk in attempts
        ]
        released = [c.pk for c in claimed if c.pk not in attempts]
        async with self.runtime.db.transaction() as session:
            await deliveries.finish(session, token, results, released)
            await sink.settle(session, claimed, attempts, now)
        for result in results:
            RELAY_OUTCOMES.labels(sink.kind, result.status).inc()
        if released:
            RELAY_OUTCOMES.labels(sink.kind, "released").inc(len(released))

    async def close(self) -> None:
        for sink in self.sinks:
            await sink.close()


async def _external_ids(session: AsyncSession, claimed: Sequence[Claimed]) -> dict[str, str]:
    """Consumers get the customer's external_id in every message (it never changes)."""
    ids = {c.event["customer_id"] for c in claimed if c.event["customer_id"]}
    if not ids:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.external_id).where(Customer.id.in_(ids))
    )
    return {customer_id: external_id for customer_id, external_id in rows}


def build(runtime: Runtime, config: RelayConfig, stop: asyncio.Event | None = None) -> Relay:
    webhooks = WebhookSink(
        runtime.clock,
        allow_private=config.allow_private,
        concurrency=config.webhook_concurrency,
        batch_size=config.batch_size,
    )
    webhooks.stop = stop
    sinks: list[Sink] = [webhooks]
    if config.nats_url:
        sinks.append(
            JetStreamSink(
                config.nats_url,
                stream=config.nats_stream,
                subject_prefix=config.nats_subject_prefix,
            )
        )
    return Relay(runtime, sinks, batch_size=config.batch_size)


async def relay_forever(
    runtime: Runtime,
    *,
    stop: asyncio.Event,
    interval: float,
    config: RelayConfig | None = None,
) -> None:
    relay = build(runtime, config or RelayConfig.from_env(), stop)
    log.info("relay.started", sinks=[sink.kind for sink in relay.sinks])
    try:
        while not stop.is_set():
            with tracing.poll("relay.pass") as span:
                try:
                    handled = await relay.run_once()
                except Exception as error:  # a failed pass is retried on the next one
                    log.error("relay.pass_failed", exc_info=error)
                    tracing.failed(span, error)
                    handled = -1
                tracing.mark(span, handled)
            handled = max(handled, 0)
            if handled == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        await relay.close()
        log.info("relay.stopped")
