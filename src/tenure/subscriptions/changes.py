"""Scheduled changes: future changes to a subscription stored as rows with an effective time.

A subscription carries its pending changes in memory (``Sub.pending``), loaded with it in one
extra query per batch; these helpers keep that view and the table in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.kernel.ids import new_id
from tenure.subscriptions.models import ScheduledChange, Subscription

_table = table_of(ScheduledChange)


class ChangeKind(StrEnum):
    CANCEL = "cancel"
    PLAN = "plan_change"  # at the period end (a downgrade)
    # A change applied "now" whose invoice is being charged: applied when the payment succeeds,
    # dropped when it fails. A row, so a crash between charge and outcome still applies it.
    PLAN_NOW = "plan_change_now"
    # A pause: from ``effective_at`` (the period end, or now) until ``resumes_at``. Applied when
    # it starts; its rows are also what the catalog's "how often" limit counts.
    PAUSE = "pause"
    # A price change: ``amount`` from the first renewal starting at or after ``effective_at``
    # (opt-in consent: only once accepted, otherwise the subscription ends there).
    PRICE = "price_change"


@dataclass(frozen=True, slots=True)
class PendingChange:
    id: str
    kind: ChangeKind
    effective_at: datetime
    plan_id: str | None = None
    resumes_at: datetime | None = None  # pauses only
    amount: int | None = None  # price changes only, with consent and accepted_at
    consent: str | None = None
    accepted_at: datetime | None = None
    price_version: str | None = None


async def load_pending(
    session: AsyncSession, subscription_ids: Sequence[str]
) -> dict[str, dict[ChangeKind, PendingChange]]:
    found: dict[str, dict[ChangeKind, PendingChange]] = {sid: {} for sid in subscription_ids}
    if not subscription_ids:
        return found
    rows = await session.execute(
        select(
            _table.c.id,
            _table.c.subscription_id,
            _table.c.kind,
            _table.c.effective_at,
            _table.c.plan_id,
            _table.c.resumes_at,
            _table.c.amount,
            _table.c.consent,
            _table.c.accepted_at,
            _table.c.price_version,
        ).where(_table.c.subscription_id.in_(list(subscription_ids)), _table.c.status == "pending")
    )
    for row in rows:
        kind = ChangeKind(row.kind)
        found[row.subscription_id][kind] = PendingChange(
            row.id,
            kind,
            row.effective_at,
            row.plan_id,
            row.resumes_at,
            row.amount,
            row.consent,
            row.accepted_at,
            row.price_version,
        )
    return found


async def add(
    session: AsyncSession,
    pending: dict[ChangeKind, PendingChange],
    *,
    subscription_id: str,
    kind: ChangeKind,
    effective_at: datetime,
    at: datetime,
    plan_id: str | None = None,
    resumes_at: datetime | None = None,
    status: str = "pending",
    price: tuple[int, str, str, str] | None = None,
) -> PendingChange:
    """Schedule a change, replacing a pending one of the same kind. ``status="applied"``
    records a change that takes effect at once (a pause starting now) as a closed row."""
    if kind in pending:
        await close(session, pending, [kind], status="canceled", at=at)
    amount, consent, change_id, version = price or (None, None, None, None)
    change = PendingChange(
        new_id("sch"), kind, effective_at, plan_id, resumes_at, amount, consent, None, version
    )
    await session.execute(
        insert(_table).values(
            id=change.id,
            subscription_id=subscription_id,
            kind=kind.value,
            effective_at=effective_at,
            plan_id=plan_id,
            resumes_at=resumes_at,
            amount=amount,
            consent=consent,
            price_change_id=change_id,
            price_version=version,
            status=status,
            created_at=at,
            closed_at=None if status == "pending" else at,
        )
    )
    if status == "pending":
        pending[kind] = change
    return change


async def close(
    session: AsyncSession,
    pending: dict[ChangeKind, PendingChange],
    kinds: Sequence[ChangeKind],
    *,
    status: str,
    at: datetime,
) -> list[str]:
    """Mark pending changes ``applied`` or ``canceled``; returns their ids."""
    ids = [pending.pop(kind).id for kind in kinds if kind in pending]
    await close_ids(session, ids, status=status, at=at)
    return ids


async def close_ids(
    session: AsyncSession, ids: Sequence[str], *, status: str, at: datetime
) -> None:
    if ids:
        await session.execute(
            update(_table)
            .where(_table.c.id.in_(list(ids)), _table.c.status == "pending")
            .values(status=status, closed_at=at)
        )


async def pauses_since(session: AsyncSession, customer_id: str, since: datetime) -> int:
    """Pauses a customer scheduled or started since ``since`` (dropped ones do not count)."""
    count = await session.scalar(
        select(func.count())
        .select_from(_table.join(Subscription, Subscription.id == _table.c.subscription_id))
        .where(
            Subscription.customer_id == customer_id,
            _table.c.kind == ChangeKind.PAUSE.value,
            _table.c.status.in_(["pending", "applied"]),
            _table.c.created_at >= since,
        )
    )
    return int(count or 0)


async def accept(session: AsyncSession, change_id: str, *, at: datetime) -> None:
    """The customer accepted a pending price change (opt-in consent)."""
    await session.execute(
        update(_table)
        .where(_table.c.id == change_id, _table.c.status == "pending")
        .values(accepted_at=at)
    )
