"""Reading and writing the ``entitlements`` projection rows (Core, set-based)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.customers.models import Customer
from tenure.db.base import table_of
from tenure.db.bulk import insert_rows, update_rows
from tenure.db.engine import is_postgres
from tenure.entitlements.models import EntitlementRow
from tenure.entitlements.rules import Projected

table = table_of(EntitlementRow)
_customers = table_of(Customer)

VALUE_COLUMNS = (
    "product",
    "status",
    "source",
    "subscription_id",
    "household_id",
    "grant_id",
    "valid_until",
    "billing_issue",
    "expires_at",
    "addons",
)


@dataclass(slots=True)
class Current:
    customer_id: str
    external_id: str
    test_clock_id: str | None
    value: Projected | None  # None: no row yet
    version: int


def projected_of(row: Any) -> Projected:
    return Projected(**{name: row[name] for name in VALUE_COLUMNS})


async def lock(session: AsyncSession, customer_ids: Sequence[str]) -> dict[str, Current]:
    """The current rows of ``customer_ids``, locked (PostgreSQL) in id order.

    Locking serializes two transactions recomputing the same customer: the second one reads
    its sources only after the first committed, so the last writer always saw every change.
    Customers without a row yet (just created) get a placeholder to lock.
    """
    ids = sorted(customer_ids)
    found = await _select(session, ids, for_update=True)
    missing = [cid for cid in ids if cid not in found]
    if missing:
        rows = await session.execute(
            select(_customers.c.id, _customers.c.external_id, _customers.c.test_clock_id).where(
                _customers.c.id.in_(missing)
            )
        )
        for row in rows:
            found[row.id] = Current(row.id, row.external_id, row.test_clock_id, None, 0)
    return found


async def _select(
    session: AsyncSession, ids: Sequence[str], *, for_update: bool
) -> dict[str, Current]:
    if not ids:
        return {}
    statement = select(table).where(table.c.customer_id.in_(list(ids)))
    if for_update and is_postgres(session):
        statement = statement.order_by(table.c.customer_id).with_for_update()
    rows = (await session.execute(statement)).mappings().all()
    return {
        row["customer_id"]: Current(
            row["customer_id"],
            row["external_id"],
            row["test_clock_id"],
            projected_of(row),
            row["version"],
        )
        for row in rows
    }


async def write(
    session: AsyncSession, changed: Sequence[tuple[Current, Projected]], *, at: datetime
) -> None:
    """Insert new rows and update changed ones (version + 1), one set-based statement each.

    The rows are locked (:func:`lock`; SQLite has one writer), so the version read with them
    is the one stored."""
    new = [
        {
            "customer_id": current.customer_id,
            "external_id": current.external_id,
            "test_clock_id": current.test_clock_id,
            "version": 1,
            "updated_at": at,
            **{name: getattr(value, name) for name in VALUE_COLUMNS},
        }
        for current, value in changed
        if current.value is None
    ]
    updates = [
        {
            "customer_id": current.customer_id,
            "version": current.version + 1,
            "updated_at": at,
            **{name: getattr(value, name) for name in VALUE_COLUMNS},
        }
        for current, value in changed
        if current.value is not None
    ]
    await insert_rows(session, table, new)
    await update_rows(session, table, "customer_id", updates)
