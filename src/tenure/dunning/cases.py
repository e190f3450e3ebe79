"""Dunning cases: one per unpaid renewal invoice, open until it is paid or given up.

Typed records with their own state machine; rows never leave this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.engine import is_postgres
from tenure.dunning.models import DunningCase
from tenure.dunning.policy import Clocks, DunningPolicy
from tenure.kernel.ids import new_id
from tenure.kernel.machine import Machine

_table = table_of(DunningCase)
_COLUMNS = tuple(column.name for column in _table.columns)


class CaseStatus(StrEnum):
    OPEN = "open"
    RECOVERED = "recovered"  # the invoice was paid
    EXHAUSTED = "exhausted"  # the policy ran out; the subscription expired
    ENDED = "ended"  # the subscription ended some other way (canceled)
    WAIVED = "waived"  # the invoice was voided: the period was forgiven


class CaseAction(StrEnum):
    RECOVER = "recover"
    EXHAUST = "exhaust"
    END = "end"
    WAIVE = "waive"


CASE: Final = Machine(
    "dunning case",
    CaseStatus,
    CaseAction,
    {
        (CaseStatus.OPEN, CaseAction.RECOVER): CaseStatus.RECOVERED,
        (CaseStatus.OPEN, CaseAction.EXHAUST): CaseStatus.EXHAUSTED,
        (CaseStatus.OPEN, CaseAction.END): CaseStatus.ENDED,
        (CaseStatus.OPEN, CaseAction.WAIVE): CaseStatus.WAIVED,
    },
    code="dunning_case_illegal_transition",
)


@dataclass(slots=True)
class Case:
    id: str
    subscription_id: str
    invoice_id: str
    customer_id: str
    status: CaseStatus
    policy: DunningPolicy  # as it was when the case opened: a catalog edit never moves a case
    started_at: datetime
    grace_ends_at: datetime
    hold_ends_at: datetime
    failures: int = 1
    last_decline_code: str | None = None
    blocked_method_id: str | None = None  # the stored method that declined hard
    closed_at: datetime | None = None

    @property
    def clocks(self) -> Clocks:
        return Clocks(self.started_at, self.grace_ends_at, self.hold_ends_at)

    def close(self, action: CaseAction, *, at: datetime) -> None:
        self.status = CASE.next(self.status, action)
        self.closed_at = at


def new_case(
    *,
    subscription_id: str,
    invoice_id: str,
    customer_id: str,
    policy: DunningPolicy,
    clocks: Clocks,
    decline_code: str | None,
    blocked_method_id: str | None,
) -> Case:
    return Case(
        id=new_id("dun"),
        subscription_id=subscription_id,
        invoice_id=invoice_id,
        customer_id=customer_id,
        status=CaseStatus.OPEN,
        policy=policy,
        started_at=clocks.started_at,
        grace_ends_at=clocks.grace_ends_at,
        hold_ends_at=clocks.hold_ends_at,
        last_decline_code=decline_code,
        blocked_method_id=blocked_method_id,
    )


def _case(row: RowMapping) -> Case:
    values = {name: row[name] for name in _COLUMNS}
    values["status"] = CaseStatus(values["status"])
    values["policy"] = DunningPolicy.from_dict(values["policy"])
    return Case(**values)


def _values(case: Case) -> dict[str, Any]:
    values = {name: getattr(case, name) for name in _COLUMNS}
    values["status"] = case.status.value
    values["policy"] = case.policy.as_dict()
    return values


async def open_cases(
    session: AsyncSession, subscription_ids: Sequence[str], *, for_update: bool = False
) -> dict[str, Case]:
    """The open case of each subscription that has one."""
    if not subscription_ids:
        return {}
    statement = select(_table).where(
        _table.c.subscription_id.in_(list(subscription_ids)),
        _table.c.status == CaseStatus.OPEN.value,
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    rows = (await session.execute(statement)).mappings().all()
    return {row["subscription_id"]: _case(row) for row in rows}


async def insert_cases(session: AsyncSession, cases: Sequence[Case]) -> None:
    if cases:
        await session.execute(insert(_table), [_values(case) for case in cases])


async def save_cases(session: AsyncSession, cases: Iterable[Case]) -> None:
    """Write back changed cases (status, counters, blocked method)."""
    for case in cases:
        await session.execute(
            update(_table)
            .where(_table.c.id == case.id)
            .values(
                status=case.status.value,
                failures=case.failures,
                last_decline_code=case.last_decline_code,
                blocked_method_id=case.blocked_method_id,
                closed_at=case.closed_at,
            )
        )


async def close_open(
    session: AsyncSession, subscription_ids: Sequence[str], *, action: CaseAction, at: datetime
) -> None:
    """Close whatever case is open for these subscriptions (set-based)."""
    if subscription_ids:
        status = CASE.next(CaseStatus.OPEN, action)
        await session.execute(
            update(_table)
            .where(
                _table.c.subscription_id.in_(list(subscription_ids)),
                _table.c.status == CaseStatus.OPEN.value,
            )
            .values(status=status.value, closed_at=at)
        )
