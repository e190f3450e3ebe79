"""Grants: support gives a customer a product until a moment, with a reason."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.touched import touch_customers
from tenure.entitlements.models import Grant
from tenure.events.record import event_row
from tenure.kernel.clock import rfc3339
from tenure.kernel.errors import Conflict, NotFound
from tenure.kernel.ids import new_id

_table = table_of(Grant)
ACTIVE: Final = "active"


class GrantNotFound(NotFound):
    code = "grant_not_found"


def payload(row: Any) -> dict[str, Any]:
    return {
        "grant": row["id"],
        "customer": row["customer_id"],
        "product": row["product_id"],
        "reason": row["reason"],
        "status": row["status"],
        "starts_at": rfc3339(row["starts_at"]),
        "ends_at": rfc3339(row["ends_at"]),
        "closed_at": None if row["closed_at"] is None else rfc3339(row["closed_at"]),
        "actor": row["actor"],
    }


async def create(
    session: AsyncSession,
    *,
    customer_id: str,
    test_clock_id: str | None,
    product_id: str,
    reason: str,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
) -> dict[str, Any]:
    row = {
        "id": new_id("grt"),
        "customer_id": customer_id,
        "test_clock_id": test_clock_id,
        "product_id": product_id,
        "reason": reason,
        "status": ACTIVE,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "closed_at": None,
        "actor": actor,
        "created_at": starts_at,
    }
    await session.execute(_table.insert().values(row))
    touch_customers(session, [customer_id])
    return row


async def list_for(session: AsyncSession, customer_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(_table).where(_table.c.customer_id == customer_id).order_by(_table.c.id)
    )
    return [dict(row) for row in rows.mappings()]


async def get(
    session: AsyncSession, customer_id: str, grant_id: str, *, for_update: bool = False
) -> dict[str, Any]:
    statement = select(_table).where(_table.c.id == grant_id, _table.c.customer_id == customer_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    row = (await session.execute(statement)).mappings().first()
    if row is None:
        raise GrantNotFound(f"customer {customer_id} has no grant {grant_id!r}")
    return dict(row)


async def revoke(session: AsyncSession, row: dict[str, Any], *, at: datetime) -> dict[str, Any]:
    if row["status"] != ACTIVE:
        raise Conflict(f"grant {row['id']} is {row['status']} already", code="grant_not_active")
    await session.execute(
        update(_table).where(_table.c.id == row["id"]).values(status="revoked", closed_at=at)
    )
    touch_customers(session, [row["customer_id"]])
    return {**row, "status": "revoked", "closed_at": at}


def _scope(test_clock_id: str | None) -> ColumnElement[bool]:
    if test_clock_id is None:
        return _table.c.test_clock_id.is_(None)
    return _table.c.test_clock_id == test_clock_id


async def end_due(
    session: AsyncSession, *, test_clock_id: str | None, now: datetime, limit: int
) -> list[dict[str, Any]]:
    """Mark active grants whose end has passed as ended (set-based); returns the ended rows."""
    statement = (
        select(_table)
        .where(_scope(test_clock_id), _table.c.status == ACTIVE, _table.c.ends_at <= now)
        .order_by(_table.c.ends_at, _table.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    rows = [dict(row) for row in (await session.execute(statement)).mappings()]
    if not rows:
        return []
    await session.execute(
        update(_table)
        .where(_table.c.id.in_([row["id"] for row in rows]))
        .values(status="ended", closed_at=now)
    )
    touch_customers(session, [row["customer_id"] for row in rows])
    return [{**row, "status": "ended", "closed_at": now} for row in rows]


async def next_end(session: AsyncSession, test_clock_id: str) -> datetime | None:
    found: datetime | None = await session.scalar(
        select(_table.c.ends_at)
        .where(_scope(test_clock_id), _table.c.status == ACTIVE)
        .order_by(_table.c.ends_at)
        .limit(1)
    )
    return found


def events(type: str, rows: Sequence[dict[str, Any]], *, at: datetime) -> list[dict[str, Any]]:
    return [
        event_row(type, created=at, data=payload(row), customer_id=row["customer_id"])
        for row in rows
    ]
