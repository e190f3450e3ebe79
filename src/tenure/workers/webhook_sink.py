"""Webhook deliveries: signed POSTs, in order per endpoint and subscription, bounded in number.

Claimed deliveries arrive grouped in chains (same endpoint, same subscription, in order).
Chains run concurrently under a semaphore; within a chain each delivery waits for the one
before it, and the first failure stops the chain so nothing overtakes it.

Each batch checks and resolves an endpoint's URL once (``sender.pin``) and sends every
delivery of the batch to the address that was checked. Connections are kept alive (``wire``)
per endpoint origin (scheme, host name, port) and address, so a connection opened and
TLS-verified for one host name never carries another's requests, even when both resolve to
the same address.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any, Final

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.events.deliveries import Attempt, Claimed, EventRef, delivery_row
from tenure.events.delivery_models import PAUSED, PENDING
from tenure.events.retry import WEBHOOKS, RetryPolicy
from tenure.kernel.clock import Clock, SystemClock
from tenure.observability import tracing
from tenure.observability.metrics import WEBHOOK_DELIVERIES, WEBHOOK_LATENCY
from tenure.webhooks import sender, service, signing, wire
from tenure.webhooks.egress import EgressRefused
from tenure.webhooks.models import ENABLED, KIND, WebhookEndpoint

CONCURRENCY: Final = 64
# Endpoint origins whose idle connections are kept between batches (least recently used go).
POOLS: Final = 64


class WebhookSink:
    kind = KIND

    def __init__(
        self,
        clock: Clock,
        *,
        allow_private: bool,
        policy: RetryPolicy = WEBHOOKS,
        concurrency: int = CONCURRENCY,
        batch_size: int = 1000,
        timeout: float = sender.TIMEOUT,
        disable_after: timedelta = service.DISABLE_AFTER,
        tls: ssl.SSLContext | None = None,
        wall: Clock | None = None,
    ) -> None:
        self.clock = clock
        # webhook-timestamp is checked by receivers against their own wall clock (±5 min), so
        # it is always real time, even when tests move the relay's clock to skip backoff.
        self.wall = wall or SystemClock()
        self.allow_private = allow_private
        self.policy = policy
        self.timeout = timeout
        self.disable_after = disable_after
        # Long enough for a whole batch whose every attempt uses its whole timeout: the slots
        # run batch_size / concurrency attempts one after the other (and a chain at most 10).
        waves = max(12, -(-batch_size // concurrency) + 2)
        self.lease = timedelta(seconds=max(60.0, timeout * waves))
        self._slots = asyncio.Semaphore(concurrency)
        # TLS verifies certificates against the endpoint's host name (the CA bundle is httpx's).
        self._pool = wire.Pool(tls or httpx.create_ssl_context())
        self._origins: OrderedDict[tuple[str, str, int], None] = OrderedDict()
        self._endpoints: dict[str, WebhookEndpoint] = {}
        # Set on shutdown: chains stop before their next delivery, the rest is released.
        self.stop: asyncio.Event | None = None

    async def route(
        self, session: AsyncSession, events: Sequence[EventRef], now: datetime
    ) -> list[dict[str, Any]]:
        routes = await service.routes(session)
        return [
            delivery_row(KIND, endpoint_id, event, now, status=PENDING if enabled else PAUSED)
            for event in events
            for endpoint_id, (types, enabled) in routes.items()
            if service.wants(types, event.type)
        ]

    async def send(
        self, claimed: Sequence[Claimed], bodies: dict[int, bytes]
    ) -> dict[int, Attempt]:
        attempts: dict[int, Attempt] = {}
        ordered = sorted(claimed, key=lambda c: (c.destination, c.ordering_key, c.position))
        chains = [
            list(chain)
            for _, chain in groupby(ordered, key=lambda c: (c.destination, c.ordering_key))
        ]
        targets = await self._pin({c.destination for c in claimed})
        self._recent({t.origin for t in targets.values() if isinstance(t, sender.Pinned)})
        now = self.clock.now()
        secrets = {
            endpoint_id: service.live_secrets(endpoint, now)
            for endpoint_id, endpoint in self._endpoints.items()
        }
        await asyncio.gather(
            *(self._run_chain(chain, targets, secrets, bodies, attempts) for chain in chains)
        )
        return attempts

    async def _pin(self, destinations: set[str]) -> dict[str, sender.Pinned | Attempt]:
        """Each endpoint's URL checked and resolved once for the batch, or why it cannot be."""

        async def one(endpoint: WebhookEndpoint) -> sender.Pinned | Attempt:
            try:
                async with asyncio.timeout(self.timeout):
                    return await sender.pin(endpoint.url, allow_private=self.allow_private)
            except EgressRefused as error:
                return sender.refused(error)
            except TimeoutError:
                return sender.timed_out(self.timeout)

        endpoints = [
            endpoint
            for destination in sorted(destinations)
            if (endpoint := self._endpoints.get(destination)) is not None
            and endpoint.status == ENABLED
        ]
        pinned = await asyncio.gather(*(one(endpoint) for endpoint in endpoints))
        return {endpoint.id: target for endpoint, target in zip(endpoints, pinned, strict=True)}

    def _recent(self, in_use: set[tuple[str, str, int]]) -> None:
        """Keep idle connections for the :data:`POOLS` origins used last, close the others."""
        for origin in sorted(in_use):
            self._origins[origin] = None
            self._origins.move_to_end(origin)
        while len(self._origins) > POOLS:
            self._origins.popitem(last=False)
        self._pool.forget(set(self._origins))

    async def _run_chain(
        self,
        chain: list[Claimed],
        targets: dict[str, sender.Pinned | Attempt],
        secrets: dict[str, list[str]],
        bodies: dict[int, bytes],
        attempts: dict[int, Attempt],
    ) -> None:
        for item in chain:
            endpoint = self._endpoints.get(item.destination)
            if endpoint is None or endpoint.status != ENABLED:
                return  # deleted or disabled meanwhile: release the rest
            if self.stop is not None and self.stop.is_set():
                return  # shutting down: what was not sent yet is released, not half-done
            target = targets[endpoint.id]
            async with self._slots:
                attempt = await self._post(
                    endpoint, target, secrets[endpoint.id], item.event, bodies[item.pk]
                )
            attempts[item.pk] = attempt
            if not attempt.ok:
                return

    async def _post(
        self,
        endpoint: WebhookEndpoint,
        target: sender.Pinned | Attempt,
        secrets: list[str],
        event: dict[str, Any],
        body: bytes,
    ) -> Attempt:
        headers = signing.headers(event["id"], int(self.wall.now().timestamp()), body, secrets)
        origin = event.get("traceparent")
        started = time.perf_counter()
        with tracing.span(
            "webhook.deliver",
            kind=tracing.SpanKind.PRODUCER,
            attributes={"tenure.endpoint": endpoint.id, "tenure.event_type": event["type"]},
            links=tracing.link_to(origin),
        ) as span:
            tracing.inject(headers, origin)  # the consumer joins the recording request's trace
            if isinstance(target, sender.Pinned):
                attempt = await sender.send(self._pool, target, body, headers, limit_s=self.timeout)
            else:
                attempt = target  # the URL was refused or did not resolve for this batch
            if not attempt.ok:
                span.set_attribute("tenure.error", attempt.error or "failed")
        WEBHOOK_LATENCY.labels(endpoint.id).observe(time.perf_counter() - started)
        WEBHOOK_DELIVERIES.labels(endpoint.id, "delivered" if attempt.ok else "failed").inc()
        return attempt

    async def prepare(self, session: AsyncSession, claimed: Sequence[Claimed]) -> None:
        ids = sorted({c.destination for c in claimed})
        self._endpoints = await service.by_ids(session, ids)
        for endpoint in self._endpoints.values():
            session.expunge(endpoint)

    async def settle(
        self,
        session: AsyncSession,
        claimed: Sequence[Claimed],
        attempts: dict[int, Attempt],
        now: datetime,
    ) -> None:
        outcomes: dict[str, tuple[bool, str | None, bool]] = {}
        for item in claimed:
            attempt = attempts.get(item.pk)
            if attempt is None:
                continue
            ok, error, gone = outcomes.get(item.destination, (False, None, False))
            outcomes[item.destination] = (
                ok or attempt.ok,
                attempt.error or error,
                gone or attempt.gone,
            )
        await service.note_outcomes(session, outcomes, now=now, disable_after=self.disable_after)

    async def close(self) -> None:
        self._pool.close()
