"""Assign the public, gap-free ``position`` to committed outbox events.

Readers page by ``position``. Only one sequencer runs at a time (an advisory lock on
PostgreSQL; SQLite's single writer elsewhere), and it numbers the rows it can see in insertion
order. A row that commits later is numbered later, so a reader's cursor never skips one.
"""

from __future__ import annotations

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.engine import is_postgres
from tenure.events.models import OutboxEvent
from tenure.observability.metrics import count_events

_LOCK_KEY = 7_364_021_001  # arbitrary, fixed: "the outbox sequencer"


async def sequence_pending(session: AsyncSession, *, limit: int = 10_000) -> int:
    """Number up to ``limit`` unsequenced events; returns how many were numbered."""
    if is_postgres(session):
        locked = await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})"))
        if not locked:
            return 0
    pending = (
        await session.execute(
            select(OutboxEvent.pk, OutboxEvent.type)
            .where(OutboxEvent.position.is_(None))
            .order_by(OutboxEvent.pk)
            .limit(limit)
        )
    ).all()
    if not pending:
        return 0
    last = await session.scalar(select(func.coalesce(func.max(OutboxEvent.position), 0)))
    base = int(last or 0)
    await session.execute(
        update(OutboxEvent),
        [{"pk": pk, "position": base + offset} for offset, (pk, _) in enumerate(pending, start=1)],
    )
    count_events([kind for _, kind in pending])  # each event is numbered exactly once
    return len(pending)


async def has_pending(session: AsyncSession) -> bool:
    """Whether any committed event still waits for its position (an index-only probe)."""
    found = await session.scalar(
        select(OutboxEvent.pk).where(OutboxEvent.position.is_(None)).limit(1)
    )
    return found is not None
