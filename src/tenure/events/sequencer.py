"""Assign the public, gap-free ``position`` to committed outbox events.

Readers page by ``position``. Only one sequencer runs at a time (an advisory lock on
PostgreSQL; SQLite's single writer elsewhere), and it numbers the rows it can see in insertion
order. A row that commits later is numbered later, so a reader's cursor never skips one.

The numbering is one set-based statement: the unsequenced rows (oldest ``pk`` first, at most
``limit``) get ``max(position) + row_number()``; the statement sees one snapshot, so the rows it
numbers and the base it numbers from agree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.events.models import OutboxEvent
from tenure.observability.metrics import count_events

_LOCK_KEY = 7_364_021_001  # arbitrary, fixed: "the outbox sequencer"
_table = table_of(OutboxEvent)


def _numbering(limit: int) -> Any:
    base = select(func.coalesce(func.max(_table.c.position), 0)).scalar_subquery()
    pending = (
        select(
            _table.c.pk.label("pk"),
            (base + func.row_number().over(order_by=_table.c.pk)).label("position"),
        )
        .where(_table.c.position.is_(None))
        .order_by(_table.c.pk)
        .limit(limit)
        .subquery("pending")
    )
    return (
        update(_table)
        .where(_table.c.pk == pending.c.pk)
        .values(position=pending.c.position)
        .returning(_table.c.type)
    )


async def sequence_pending(session: AsyncSession, *, limit: int = 10_000) -> int:
    """Number up to ``limit`` unsequenced events; returns how many were numbered."""
    if is_postgres(session):
        locked = await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})"))
        if not locked:
            return 0
    numbered = list((await session.execute(_numbering(limit))).scalars())
    if numbered:
        count_events(numbered)  # each event is numbered exactly once
    return len(numbered)


async def has_pending(session: AsyncSession) -> bool:
    """Whether any committed event still waits for its position (an index-only probe)."""
    found = await session.scalar(
        select(OutboxEvent.pk).where(OutboxEvent.position.is_(None)).limit(1)
    )
    return found is not None
