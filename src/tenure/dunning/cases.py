"""Dunning cases: one per unpaid renewal invoice, open until it is paid or given up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.dunning.models import DunningCase
from tenure.dunning.policy import Clocks, DunningPolicy
from tenure.kernel.ids import new_id

_table = table_of(DunningCase)


def new_case(
    *,
    subscription_id: str,
    invoice_id: str,
    customer_id: str,
    policy: DunningPolicy,
    clocks: Clocks,
    decline_code: str | None,
    blocked_method_id: str | None,
) -> dict[str, Any]:
    return {
        "id": new_id("dun"),
        "subscription_id": subscription_id,
        "invoice_id": invoice_id,
        "customer_id": customer_id,
        "status": "open",
        "policy": policy.as_dict(),
        "started_at": clocks.started_at,
        "grace_ends_at": clocks.grace_ends_at,
        "hold_ends_at": clocks.hold_ends_at,
        "failures": 1,
        "last_decline_code": decline_code,
        "blocked_method_id": blocked_method_id,
        "closed_at": None,
    }


def clocks_of(case: dict[str, Any]) -> Clocks:
    return Clocks(case["started_at"], case["grace_ends_at"], case["hold_ends_at"])


def policy_of(case: dict[str, Any]) -> DunningPolicy:
    return DunningPolicy.from_dict(case["policy"])


async def open_cases(
    session: AsyncSession, subscription_ids: Sequence[str], *, for_update: bool = False
) -> dict[str, dict[str, Any]]:
    if not subscription_ids:
        return {}
    statement = select(_table).where(
        _table.c.subscription_id.in_(list(subscription_ids)), _table.c.status == "open"
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    rows = (await session.execute(statement)).mappings().all()
    return {row["subscription_id"]: dict(row) for row in rows}


async def insert_cases(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(_table), list(rows))


async def update_cases(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write back changed cases (each dict carries ``id`` and the columns to set)."""
    for row in rows:
        values = {key: value for key, value in row.items() if key != "id"}
        await session.execute(update(_table).where(_table.c.id == row["id"]).values(**values))


async def close_open(
    session: AsyncSession, subscription_ids: Sequence[str], *, status: str, at: datetime
) -> None:
    if subscription_ids:
        await session.execute(
            update(_table)
            .where(_table.c.subscription_id.in_(list(subscription_ids)), _table.c.status == "open")
            .values(status=status, closed_at=at)
        )
