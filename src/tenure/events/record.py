"""Recording events into the outbox, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.bulk import insert_rows
from tenure.events import catalog
from tenure.events.models import OutboxEvent
from tenure.kernel.ids import new_id
from tenure.observability import tracing
from tenure.observability.context import current_request_id

_table = table_of(OutboxEvent)


def event_row(
    type: str,
    *,
    created: datetime,
    data: dict[str, Any],
    customer_id: str | None = None,
    subscription_id: str | None = None,
    sequence: int | None = None,
) -> dict[str, Any]:
    """One outbox row; ``created`` is business time (a test clock's time for its customers).

    The payload is checked against the published catalog type here, at the one place every
    event passes through, so no record site can publish a field the catalog does not declare.
    """
    return {
        "id": new_id("evt"),
        "type": type,
        "schema_version": catalog.check(type, data),
        "created": created,
        # Wall time of the write, for operators; never used for business decisions.
        "recorded_at": datetime.now(UTC),
        "customer_id": customer_id,
        "subscription_id": subscription_id,
        "sequence": sequence,
        "data": data,
        "request_id": current_request_id(),
        "traceparent": tracing.traceparent(),
    }


async def record(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert events in the given order (their insertion order is their reading order)."""
    await insert_rows(session, _table, rows)
