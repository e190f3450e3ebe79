"""Data lifecycle: what Tenure stops keeping, pruned by the worker in small batches.

- idempotency records older than their lifetime (24 hours by default; the gate no longer
  replays them either);
- webhook and NATS deliveries ``delivered`` longer ago than the retention (30 days);
- provider webhook inbox rows and store notifications that were processed or ignored longer
  ago than the retention (30 days; a provider's retries stop after a few days, so a very late
  duplicate is all the inbox could still catch).

Each batch is one short transaction deleting at most ``BATCH`` rows by primary key, so writes
are never blocked for long; a pass stops when a batch comes back short. Pending, dead and
paused rows are never pruned. Runs at most once per ``EVERY`` per process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, delete, select, tuple_

from tenure.access.models import IdempotencyRecord
from tenure.db.engine import Database
from tenure.events.delivery_models import DELIVERED, EventDelivery
from tenure.payments.models import ProviderEvent
from tenure.stores.models import StoreNotification

BATCH: Final = 1000
EVERY: Final = 60.0  # seconds between housekeeping passes in one process
_DONE: Final = ("processed", "ignored")


@dataclass(frozen=True, slots=True)
class Retention:
    idempotency: timedelta = timedelta(hours=24)
    deliveries: timedelta = timedelta(days=30)
    inbox: timedelta = timedelta(days=30)

    @classmethod
    def from_env(cls) -> Retention:
        env = os.environ
        return cls(
            idempotency=timedelta(hours=float(env.get("TENURE_IDEMPOTENCY_TTL_HOURS") or 24)),
            deliveries=timedelta(days=float(env.get("TENURE_DELIVERY_RETENTION_DAYS") or 30)),
            inbox=timedelta(days=float(env.get("TENURE_INBOX_RETENTION_DAYS") or 30)),
        )


async def _prune(
    database: Database, keys: Sequence[Any], model: Any, condition: ColumnElement[bool]
) -> int:
    total = 0
    key = keys[0] if len(keys) == 1 else tuple_(*keys)
    while True:
        async with database.transaction() as session:
            doomed = select(*keys).where(condition).order_by(*keys).limit(BATCH)
            result = await session.execute(
                delete(model).where(key.in_(doomed)).execution_options(synchronize_session=False)
            )
            removed = int(getattr(result, "rowcount", 0) or 0)
        total += removed
        if removed < BATCH:
            return total


async def prune(database: Database, retention: Retention, *, now: datetime) -> dict[str, int]:
    """One housekeeping pass (wall time: retention is about storage, not business time)."""
    idempotency = (IdempotencyRecord.api_key_id, IdempotencyRecord.key)
    return {
        "idempotency_records": await _prune(
            database,
            idempotency,
            IdempotencyRecord,
            IdempotencyRecord.created_at < now - retention.idempotency,
        ),
        "event_deliveries": await _prune(
            database,
            (EventDelivery.pk,),
            EventDelivery,
            (EventDelivery.status == DELIVERED)
            & (EventDelivery.delivered_at < now - retention.deliveries),
        ),
        "provider_events": await _prune(
            database,
            (ProviderEvent.pk,),
            ProviderEvent,
            ProviderEvent.status.in_(_DONE) & (ProviderEvent.processed_at < now - retention.inbox),
        ),
        "store_notifications": await _prune(
            database,
            (StoreNotification.pk,),
            StoreNotification,
            StoreNotification.status.in_(_DONE)
            & (StoreNotification.processed_at < now - retention.inbox),
        ),
    }


class Housekeeper:
    """Runs :func:`prune` at most every ``EVERY`` seconds (the worker calls it each pass)."""

    def __init__(self, retention: Retention | None = None) -> None:
        self.retention = retention or Retention.from_env()
        self._last = float("-inf")

    async def __call__(self, database: Database) -> int:
        if time.monotonic() - self._last < EVERY:
            return 0
        self._last = time.monotonic()
        return sum((await prune(database, self.retention, now=datetime.now(UTC))).values())
