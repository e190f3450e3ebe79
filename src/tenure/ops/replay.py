"""Replaying events to one destination (``tenure events replay``): a webhook endpoint or NATS.

Deliveries are put back in line (``deliveries.requeue``): the relay sends them again with the
same event id, so receivers and the broker deduplicate. Chunked, each chunk its own
transaction, with a callback per chunk for progress.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from sqlalchemy import func, select

from tenure.events import deliveries
from tenure.events.models import OutboxEvent
from tenure.events.sequencer import sequence_pending
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import InvalidRequest, NotFound
from tenure.webhooks import service
from tenure.webhooks.models import KIND as WEBHOOK
from tenure.workers.jetstream import KIND as NATS

CHUNK: Final = 1_000


async def size(runtime: Runtime, *, since: datetime | None, event_id: str | None) -> int:
    """How many numbered events a replay will go through (for a progress bar)."""
    e = OutboxEvent
    statement = select(func.count()).where(e.position.is_not(None))
    if since is not None:
        statement = statement.where(e.created >= since)
    if event_id is not None:
        statement = statement.where(e.id == event_id)
    async with runtime.db.read() as session:
        return int(await session.scalar(statement) or 0)


async def replay(
    runtime: Runtime,
    destination: str,
    *,
    since: datetime | None,
    event_id: str | None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> int:
    """Requeue the events since ``since`` (or the one event) for ``destination``; returns how
    many deliveries were queued. ``on_chunk(queued, last_position)`` after each chunk."""
    if (since is None) == (event_id is None):
        raise InvalidRequest("give either --since or --event", code="invalid_replay")
    async with runtime.db.transaction() as session:
        await sequence_pending(session)  # so a just-committed event can be replayed too
        if destination != NATS:
            service.require_enabled(await service.get(session, destination))
    queued, after = 0, 0
    while True:
        async with runtime.db.transaction() as session:
            events = await deliveries.events_for_replay(
                session, since=since, event_id=event_id, after=after, limit=CHUNK
            )
            if event_id is not None and not events:
                raise NotFound(f"no event {event_id!r}", code="event_not_found")
            now = runtime.clock.now()
            if destination == NATS:
                rows = [deliveries.delivery_row(NATS, NATS, event, now) for event in events]
            else:
                endpoint = await service.get(session, destination)
                rows = [
                    deliveries.delivery_row(WEBHOOK, endpoint.id, event, now)
                    for event in events
                    if service.wants(endpoint.event_types, event.type)
                ]
            await deliveries.requeue(session, rows)
        queued += len(rows)
        if events:
            after = events[-1].position
        if on_chunk is not None:
            on_chunk(queued, after)
        if len(events) < CHUNK:
            return queued
