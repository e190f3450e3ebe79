"""Disputes (chargebacks) on collected payments: typed records, their state machine, storage.

A dispute is ``open`` from the first event about it (Stripe ``charge.dispute.created``, an
inquiry included; Adyen ``NOTIFICATION_OF_CHARGEBACK``, ``REQUEST_FOR_INFORMATION`` or
``CHARGEBACK``) until the provider says it is ``won`` or ``lost``. A decision can still turn
(Adyen ``SECOND_CHARGEBACK`` or ``PREARBITRATION_LOST`` after a win; ``CHARGEBACK_REVERSED`` or
``PREARBITRATION_WON`` after a loss), so both ways between ``won`` and ``lost`` are legal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.billing.models import Dispute
from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.events.record import event_row
from tenure.kernel.clock import rfc3339
from tenure.kernel.machine import Machine


class DisputeStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class DisputeAction(StrEnum):
    WIN = "win"
    LOSE = "lose"


DISPUTE: Final = Machine(
    "dispute",
    DisputeStatus,
    DisputeAction,
    {
        (DisputeStatus.OPEN, DisputeAction.WIN): DisputeStatus.WON,
        (DisputeStatus.OPEN, DisputeAction.LOSE): DisputeStatus.LOST,
        (DisputeStatus.WON, DisputeAction.LOSE): DisputeStatus.LOST,  # second chargeback
        (DisputeStatus.LOST, DisputeAction.WIN): DisputeStatus.WON,  # reversed, arbitration
    },
    code="dispute_illegal_transition",
)
# Disputes that hold the payment's cash: no refund may be made while one exists.
HOLDING: Final = frozenset({DisputeStatus.OPEN, DisputeStatus.LOST})

_table = table_of(Dispute)
_COLUMNS = tuple(column.name for column in _table.columns)


@dataclass(slots=True)
class DisputeRecord:
    id: str
    provider: str
    provider_dispute_id: str
    invoice_id: str
    customer_id: str
    subscription_id: str | None
    charge_id: str
    amount: int
    currency: str
    reason: str
    status: DisputeStatus
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None

    def decide(self, action: DisputeAction, *, at: datetime) -> None:
        self.status = DISPUTE.next(self.status, action)
        self.closed_at = at
        self.updated_at = at


def _record(row: RowMapping) -> DisputeRecord:
    values = {name: row[name] for name in _COLUMNS}
    values["status"] = DisputeStatus(values["status"])
    return DisputeRecord(**values)


def _values(dispute: DisputeRecord) -> dict[str, Any]:
    values = {name: getattr(dispute, name) for name in _COLUMNS}
    values["status"] = dispute.status.value
    return values


async def find(
    session: AsyncSession, provider: str, provider_dispute_id: str, *, for_update: bool = False
) -> DisputeRecord | None:
    statement = select(_table).where(
        _table.c.provider == provider, _table.c.provider_dispute_id == provider_dispute_id
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    row = (await session.execute(statement)).mappings().first()
    return None if row is None else _record(row)


async def insert_dispute(session: AsyncSession, dispute: DisputeRecord) -> None:
    await session.execute(insert(_table).values(_values(dispute)))


async def save(session: AsyncSession, dispute: DisputeRecord) -> None:
    values = _values(dispute)
    del values["id"]
    await session.execute(update(_table).where(_table.c.id == dispute.id).values(values))


async def for_invoices(
    session: AsyncSession, invoice_ids: Sequence[str]
) -> dict[str, list[DisputeRecord]]:
    if not invoice_ids:
        return {}
    rows = await session.execute(
        select(_table).where(_table.c.invoice_id.in_(list(invoice_ids))).order_by(_table.c.id)
    )
    found: dict[str, list[DisputeRecord]] = {}
    for row in rows.mappings():
        record = _record(row)
        found.setdefault(record.invoice_id, []).append(record)
    return found


def dispute_event(
    type: str,
    dispute: DisputeRecord,
    *,
    at: datetime,
    sequence: int | None,
    policy_applied: str | None = None,
) -> dict[str, Any]:
    """``dispute.opened|won|lost``, numbered on the subscription when there is one."""
    data: dict[str, Any] = {
        "dispute": dispute.id,
        "customer": dispute.customer_id,
        "subscription": dispute.subscription_id,
        "invoice": dispute.invoice_id,
        "provider": dispute.provider,
        "amount": {"amount": dispute.amount, "currency": dispute.currency},
        "reason": dispute.reason,
        "status": dispute.status.value,
        "opened_at": rfc3339(dispute.opened_at),
        "closed_at": None if dispute.closed_at is None else rfc3339(dispute.closed_at),
    }
    if policy_applied is not None:
        data["policy_applied"] = policy_applied
    return event_row(
        type,
        created=at,
        data=data,
        customer_id=dispute.customer_id,
        subscription_id=dispute.subscription_id,
        sequence=sequence,
    )
