"""Add-ons attached to a subscription (``subscription_items``), as typed records.

An item is ``pending`` while the charge for its first (prorated) part is in flight, then
``active`` until it is ``removed`` on request, ``ended`` with its subscription, or ``failed``
(its charge was declined). Only ``pending`` and ``active`` items count as attached (a partial
unique index allows one of each add-on product per subscription).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.kernel.machine import Machine
from tenure.subscriptions.models import SubscriptionItem

_table = table_of(SubscriptionItem)


class ItemStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REMOVED = "removed"
    ENDED = "ended"
    FAILED = "failed"


class ItemAction(StrEnum):
    PAID = "paid"
    DECLINED = "declined"
    REMOVE = "remove"
    END = "end"  # the subscription ended


_S, _A = ItemStatus, ItemAction
ITEM: Final = Machine(
    "subscription item",
    ItemStatus,
    ItemAction,
    {
        (_S.PENDING, _A.PAID): _S.ACTIVE,
        (_S.PENDING, _A.DECLINED): _S.FAILED,
        (_S.PENDING, _A.END): _S.ENDED,
        (_S.ACTIVE, _A.REMOVE): _S.REMOVED,
        (_S.ACTIVE, _A.END): _S.ENDED,
    },
    code="subscription_item_illegal_transition",
)
ATTACHED: Final = (ItemStatus.PENDING.value, ItemStatus.ACTIVE.value)


@dataclass(slots=True)
class Item:
    id: str
    subscription_id: str
    plan_id: str
    product_id: str
    price_amount: int
    currency: str
    status: ItemStatus
    added_at: datetime
    removed_at: datetime | None = None

    def move(self, action: ItemAction, *, at: datetime) -> None:
        self.status = ITEM.next(self.status, action)
        if self.status in (ItemStatus.REMOVED, ItemStatus.ENDED, ItemStatus.FAILED):
            self.removed_at = at


def _item(row: object) -> Item:
    values = dict(row)  # type: ignore[call-overload]
    values["status"] = ItemStatus(values["status"])
    return Item(**values)


async def attached(
    session: AsyncSession,
    subscription_ids: Sequence[str],
    *,
    statuses: Sequence[str] = ATTACHED,
    for_update: bool = False,
) -> dict[str, list[Item]]:
    """The items of each subscription in ``statuses`` (pending and active by default)."""
    found: dict[str, list[Item]] = defaultdict(list)
    if not subscription_ids:
        return found
    statement = (
        select(_table)
        .where(_table.c.subscription_id.in_(list(subscription_ids)))
        .where(_table.c.status.in_(list(statuses)))
        .order_by(_table.c.added_at, _table.c.id)
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    for row in (await session.execute(statement)).mappings():
        item = _item(row)
        found[item.subscription_id].append(item)
    return found


async def insert_item(session: AsyncSession, item: Item) -> None:
    await session.execute(
        insert(_table).values(
            id=item.id,
            subscription_id=item.subscription_id,
            plan_id=item.plan_id,
            product_id=item.product_id,
            price_amount=item.price_amount,
            currency=item.currency,
            status=item.status.value,
            added_at=item.added_at,
            removed_at=item.removed_at,
        )
    )


_SAVE = (
    update(_table)
    .where(_table.c.id == bindparam("b_id"))
    .values(status=bindparam("b_status"), removed_at=bindparam("b_removed_at"))
)


async def save(session: AsyncSession, items: Sequence[Item]) -> None:
    if items:
        connection = await session.connection()
        await connection.execute(
            _SAVE,
            [
                {"b_id": item.id, "b_status": item.status.value, "b_removed_at": item.removed_at}
                for item in items
            ],
        )


async def end_with(session: AsyncSession, ended: Sequence[tuple[str, datetime]]) -> None:
    """Items of subscriptions that ended go with them (set-based)."""
    if ended:
        connection = await session.connection()
        await connection.execute(
            update(_table)
            .where(_table.c.subscription_id == bindparam("b_sub"))
            .where(_table.c.status.in_(list(ATTACHED)))
            .values(status=ItemStatus.ENDED.value, removed_at=bindparam("b_at")),
            [{"b_sub": sub_id, "b_at": at} for sub_id, at in ended],
        )
