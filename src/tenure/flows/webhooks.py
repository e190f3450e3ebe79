"""Webhook endpoint use cases: each opens its own transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from tenure.events import deliveries
from tenure.events.sequencer import sequence_pending
from tenure.flows.runtime import Runtime
from tenure.kernel.errors import InvalidRequest, NotFound
from tenure.webhooks import egress, service
from tenure.webhooks.models import KIND, WebhookEndpoint

REPLAY_CHUNK: Final = 1_000
MAX_REPLAY: Final = 100_000


@dataclass(frozen=True, slots=True)
class Changes:
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    status: str | None = None


async def create_endpoint(
    runtime: Runtime, *, url: str, event_types: list[str], description: str | None
) -> WebhookEndpoint:
    # Resolved before the transaction: DNS is never waited for while holding one.
    url = await egress.check_destination(url, allow_private=egress.allow_private_from_env())
    async with runtime.db.transaction() as session:
        return await service.create(
            session,
            url=url,
            event_types=event_types,
            description=description,
            now=runtime.clock.now(),
            allow_private=egress.allow_private_from_env(),
        )


async def update_endpoint(runtime: Runtime, endpoint_id: str, changes: Changes) -> WebhookEndpoint:
    if changes.url is not None:
        allow = egress.allow_private_from_env()
        checked = await egress.check_destination(changes.url, allow_private=allow)
        changes = replace(changes, url=checked)
    async with runtime.db.transaction() as session:
        endpoint = await service.get(session, endpoint_id, for_update=True)
        now = runtime.clock.now()
        if changes.url is not None:
            allow = egress.allow_private_from_env()
            endpoint.url = egress.check_url(changes.url, allow_private=allow)
        if changes.event_types is not None:
            endpoint.event_types = service.check_event_types(changes.event_types)
        if changes.description is not None:
            endpoint.description = service.check_description(changes.description) or None
        if changes.status is not None:
            await service.set_status(session, endpoint, changes.status, now)
        endpoint.updated_at = now
        return endpoint


async def delete_endpoint(runtime: Runtime, endpoint_id: str) -> None:
    async with runtime.db.transaction() as session:
        endpoint = await service.get(session, endpoint_id, for_update=True)
        await deliveries.forget(session, endpoint.id)
        await session.delete(endpoint)


async def rotate_secret(
    runtime: Runtime, endpoint_id: str, *, overlap: timedelta
) -> WebhookEndpoint:
    async with runtime.db.transaction() as session:
        endpoint = await service.get(session, endpoint_id, for_update=True)
        service.rotate(endpoint, now=runtime.clock.now(), overlap=overlap)
        return endpoint


async def replay(
    runtime: Runtime, endpoint_id: str, *, since: datetime | None, event_id: str | None
) -> tuple[int, bool]:
    """Send events again (same webhook-id); returns (how many, whether more remain)."""
    if (since is None) == (event_id is None):
        raise InvalidRequest('give either "since" or "event", not both', code="invalid_replay")
    async with runtime.db.transaction() as session:
        await sequence_pending(session)  # so a just-committed event can be replayed too
        endpoint = await service.get(session, endpoint_id)
        service.require_enabled(endpoint)
    replayed, after = 0, 0
    while replayed < MAX_REPLAY:
        async with runtime.db.transaction() as session:
            endpoint = await service.get(session, endpoint_id)
            events = await deliveries.events_for_replay(
                session, since=since, event_id=event_id, after=after, limit=REPLAY_CHUNK
            )
            if event_id is not None:
                _check_single(events, endpoint, event_id)
            now = runtime.clock.now()
            rows = [
                deliveries.delivery_row(KIND, endpoint.id, event, now)
                for event in events
                if service.wants(endpoint.event_types, event.type)
            ]
            await deliveries.requeue(session, rows)
        replayed += len(rows)
        if len(events) < REPLAY_CHUNK:
            return replayed, False
        after = events[-1].position
    return replayed, True


def _check_single(
    events: list[deliveries.EventRef], endpoint: WebhookEndpoint, event_id: str
) -> None:
    if not events:
        raise NotFound(f"no event {event_id!r}", code="event_not_found")
    if not service.wants(endpoint.event_types, events[0].type):
        raise InvalidRequest(
            f"{endpoint.id} does not receive {events[0].type} events",
            code="event_type_not_subscribed",
        )
