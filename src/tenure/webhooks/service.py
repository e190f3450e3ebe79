"""Webhook endpoints: create, read, change, rotate secrets, and the disable rule.

Lower modules never commit: every function here works on the caller's session.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.events import catalog, deliveries
from tenure.events.record import event_row, record
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, InvalidRequest, NotFound
from tenure.kernel.ids import new_id
from tenure.webhooks import egress, signing
from tenure.webhooks.models import DISABLED, ENABLED, WebhookEndpoint

ALL: Final = "*"
MAX_EVENT_TYPES: Final = 100
MAX_DESCRIPTION: Final = 500
MAX_OVERLAP: Final = timedelta(days=7)
# An endpoint that has not answered 2xx for this long is disabled (Svix uses 5 days too);
# by then its oldest deliveries have been dead-lettered after their 3-day retry horizon.
DISABLE_AFTER: Final = timedelta(days=5)


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"


def check_event_types(event_types: Sequence[str]) -> list[str]:
    if not event_types:
        raise InvalidRequest(
            'event_types must list at least one event type, or ["*"] for all',
            code="invalid_event_types",
            field="event_types",
        )
    if len(event_types) > MAX_EVENT_TYPES:
        raise InvalidRequest(
            f"event_types lists more than {MAX_EVENT_TYPES} entries",
            code="invalid_event_types",
            field="event_types",
        )
    unknown = [t for t in event_types if t != ALL and t not in catalog.BY_TYPE]
    if unknown:
        raise InvalidRequest(
            f"unknown event type {unknown[0]!r}; list them with GET /v1/event_types",
            code="unknown_event_type",
            field="event_types",
        )
    return sorted(set(event_types))


def check_description(description: str | None) -> str | None:
    if description is not None and (len(description) > MAX_DESCRIPTION or "\x00" in description):
        raise InvalidRequest(
            f"description must be at most {MAX_DESCRIPTION} characters of text",
            code="invalid_description",
            field="description",
        )
    return description


def wants(endpoint_types: Sequence[str], event_type: str) -> bool:
    return ALL in endpoint_types or event_type in endpoint_types


def live_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, plus the previous in overlap."""
    secrets = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and now < expires:
        secrets.append(endpoint.previous_secret)
    return secrets


async def create(
    session: AsyncSession,
    *,
    url: str,
    event_types: Sequence[str],
    description: str | None,
    now: datetime,
    allow_private: bool,
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        url=egress.check_url(url, allow_private=allow_private),
        description=check_description(description),
        event_types=check_event_types(event_types),
        status=ENABLED,
        secret=signing.new_secret(),
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def get(
    session: AsyncSession, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint:
    statement = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    endpoint = await session.scalar(statement)
    if endpoint is None:
        raise WebhookEndpointNotFound(f"no webhook endpoint {endpoint_id!r}")
    return endpoint


async def list_(session: AsyncSession, *, after: str | None, limit: int) -> list[WebhookEndpoint]:
    statement = select(WebhookEndpoint).order_by(WebhookEndpoint.id).limit(limit)
    if after is not None:
        statement = statement.where(WebhookEndpoint.id > after)
    return list((await session.scalars(statement)).all())


async def by_ids(session: AsyncSession, ids: Sequence[str]) -> dict[str, WebhookEndpoint]:
    rows = await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids)))
    return {endpoint.id: endpoint for endpoint in rows}


async def routes(session: AsyncSession) -> dict[str, tuple[list[str], bool]]:
    """Every endpoint: the event types it wants, and whether it is enabled (endpoints are few).

    Disabled endpoints still get their deliveries (paused), so enabling one again resumes
    with everything that happened meanwhile instead of a silent gap.
    """
    rows = await session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types, WebhookEndpoint.status)
    )
    return {endpoint_id: (list(types), status == ENABLED) for endpoint_id, types, status in rows}


async def set_status(
    session: AsyncSession, endpoint: WebhookEndpoint, status: str, now: datetime
) -> None:
    """Enable or disable by hand; a disabled endpoint's pending deliveries wait for it."""
    if status == endpoint.status:
        return
    endpoint.status = status
    endpoint.updated_at = now
    if status == ENABLED:
        endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
        await deliveries.resume(session, endpoint.id, now)
    else:
        endpoint.disabled_reason = "disabled by request"
        endpoint.disabled_at = now
        await deliveries.pause(session, endpoint.id)


def rotate(endpoint: WebhookEndpoint, *, now: datetime, overlap: timedelta) -> str:
    """A new secret; the old one keeps signing (as a second signature) for ``overlap``."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise InvalidRequest(
            f"overlap must be between 0 and {int(MAX_OVERLAP.total_seconds())} seconds",
            code="invalid_overlap",
            field="overlap_seconds",
        )
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + overlap
    endpoint.secret = signing.new_secret()
    endpoint.updated_at = now
    return endpoint.secret


def require_enabled(endpoint: WebhookEndpoint) -> None:
    if endpoint.status != ENABLED:
        raise Conflict(
            f"{endpoint.id} is disabled ({endpoint.disabled_reason}); enable it first",
            code="webhook_endpoint_disabled",
        )


async def note_outcomes(
    session: AsyncSession,
    outcomes: dict[str, tuple[bool, str | None, bool]],
    *,
    now: datetime,
    disable_after: timedelta = DISABLE_AFTER,
) -> list[str]:
    """Track each endpoint's run of failures and disable the ones that keep failing.

    ``outcomes`` maps endpoint id to (any success in this batch, last error, answered 410).
    Returns the ids disabled now.
    """
    endpoints = await by_ids(session, list(outcomes))
    disabled = []
    for endpoint_id, (succeeded, error, gone) in outcomes.items():
        endpoint = endpoints.get(endpoint_id)
        if endpoint is None or endpoint.status != ENABLED:
            continue
        if succeeded:
            endpoint.failing_since = None
            endpoint.last_success_at = now
            continue
        endpoint.failing_since = endpoint.failing_since or now
        if gone:
            reason = "the receiver answered 410 Gone"
        elif now - endpoint.failing_since >= disable_after:
            reason = f"failing since {rfc3339(endpoint.failing_since)}: {error}"
        else:
            continue
        await _disable(session, endpoint, reason[:500], now)
        disabled.append(endpoint_id)
    return disabled


async def _disable(
    session: AsyncSession, endpoint: WebhookEndpoint, reason: str, now: datetime
) -> None:
    endpoint.status = DISABLED
    endpoint.disabled_reason = reason
    endpoint.disabled_at = now
    endpoint.updated_at = now
    await deliveries.pause(session, endpoint.id)
    data: dict[str, Any] = {
        "endpoint": endpoint.id,
        "url": endpoint.url,
        "reason": reason,
        "disabled_at": rfc3339(now),
    }
    await record(session, [event_row("webhook_endpoint.disabled", created=now, data=data)])


async def reencrypt_secrets(session: AsyncSession, *, after: str | None, limit: int) -> list[str]:
    """Rewrite one batch of endpoints' secrets with the current key (db/crypto.py), in id
    order after ``after``; returns the ids rewritten (empty: done). Values are read through
    the column type (any configured key decrypts) and written back through it (the first key
    encrypts), so a plain value from before encryption is encrypted too."""
    table = table_of(WebhookEndpoint)
    statement = (
        select(table.c.id, table.c.secret, table.c.previous_secret)
        .order_by(table.c.id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(table.c.id > after)
    rows = (await session.execute(statement)).all()
    for row in rows:
        await session.execute(
            update(table)
            .where(table.c.id == row.id)
            .values(secret=row.secret, previous_secret=row.previous_secret)
        )
    return [row.id for row in rows]
