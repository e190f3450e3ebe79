"""Payment attempts: stored with their idempotency key before the provider is called.

An attempt is ``pending`` from the moment it is committed until its outcome is recorded; the
lease says when the recovery sweep may assume its caller crashed. Typed records here; rows never
leave this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import RowMapping, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenure.db.base import table_of
from tenure.db.bulk import insert_rows, update_rows
from tenure.db.engine import is_postgres
from tenure.kernel.ids import new_id
from tenure.kernel.machine import Machine
from tenure.payments.models import PaymentAttempt
from tenure.payments.ports import ChargeRequest, ChargeResult, ChargeStatus, DeclineClass

# How long a caller may take between storing an attempt and storing its outcome before the
# recovery sweep assumes it crashed and resolves the attempt itself.
LEASE: Final = timedelta(seconds=30)

_table = table_of(PaymentAttempt)
_COLUMNS = tuple(column.name for column in _table.columns)


class AttemptStatus(StrEnum):
    PENDING = "pending"
    # On-session only: the provider asks the customer to authenticate (3-D Secure); the
    # provider's webhook or ``POST /v1/invoices/{id}/pay`` settles it.
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# Attempts whose outcome is still to come (a provider's webhook may settle them).
OPEN_STATUSES: Final = frozenset({AttemptStatus.PENDING, AttemptStatus.REQUIRES_ACTION})


class AttemptAction(StrEnum):
    SUCCEED = "succeed"
    FAIL = "fail"
    AWAIT_ACTION = "await_action"


ATTEMPT: Final = Machine(
    "payment attempt",
    AttemptStatus,
    AttemptAction,
    {
        (AttemptStatus.PENDING, AttemptAction.SUCCEED): AttemptStatus.SUCCEEDED,
        (AttemptStatus.PENDING, AttemptAction.FAIL): AttemptStatus.FAILED,
        (AttemptStatus.PENDING, AttemptAction.AWAIT_ACTION): AttemptStatus.REQUIRES_ACTION,
        (AttemptStatus.REQUIRES_ACTION, AttemptAction.SUCCEED): AttemptStatus.SUCCEEDED,
        (AttemptStatus.REQUIRES_ACTION, AttemptAction.FAIL): AttemptStatus.FAILED,
    },
    code="payment_attempt_illegal_transition",
)


@dataclass(slots=True)
class Attempt:
    id: str
    invoice_id: str
    customer_id: str
    test_clock_id: str | None
    attempt_number: int
    idempotency_key: str
    amount: int
    currency: str
    payment_method: str
    status: AttemptStatus
    created_at: datetime
    lease_until: datetime
    decline_code: str | None = None
    failure_message: str | None = None
    retryable: bool | None = None
    provider_charge_id: str | None = None
    completed_at: datetime | None = None
    on_session: bool = False

    def awaits_action(self, result: ChargeResult) -> bool:
        """Whether ``result`` asks a present customer to authenticate: the attempt waits
        (off-session the same answer is a hard decline: nobody is there to authenticate)."""
        return (
            self.on_session
            and result.status is ChargeStatus.DECLINED
            and result.decline_class is DeclineClass.ACTION_REQUIRED
            and result.next_action is not None
        )

    def finish(self, result: ChargeResult, *, at: datetime) -> None:
        """Record the provider's answer (the only way out of ``pending``/``requires_action``)."""
        if self.awaits_action(result):
            action = AttemptAction.AWAIT_ACTION
        elif result.status is ChargeStatus.SUCCEEDED:
            action = AttemptAction.SUCCEED
        else:
            action = AttemptAction.FAIL
        self.status = ATTEMPT.next(self.status, action)
        self.decline_code = result.decline_code
        self.failure_message = result.message
        self.retryable = result.retryable
        self.provider_charge_id = result.charge_id or self.provider_charge_id
        self.completed_at = None if action is AttemptAction.AWAIT_ACTION else at

    def charge_request(self, description: str) -> ChargeRequest:
        return ChargeRequest(
            idempotency_key=self.idempotency_key,
            customer_id=self.customer_id,
            amount=self.amount,
            currency=self.currency,
            payment_method=self.payment_method,
            description=description,
            on_session=self.on_session,
        )


def idempotency_key(invoice_id: str, attempt_number: int) -> str:
    """Deterministic: a retry of the same attempt reuses it, a new attempt gets a new one."""
    return f"{invoice_id}:attempt:{attempt_number}"


def new_attempt(
    *,
    invoice_id: str,
    customer_id: str,
    test_clock_id: str | None,
    amount: int,
    currency: str,
    payment_method: str,
    attempt_number: int,
    created_at: datetime,
    on_session: bool = False,
) -> Attempt:
    if amount <= 0:
        raise ValueError(f"a payment attempt must charge something, not {amount}")
    return Attempt(
        id=new_id("pa"),
        invoice_id=invoice_id,
        customer_id=customer_id,
        test_clock_id=test_clock_id,
        attempt_number=attempt_number,
        idempotency_key=idempotency_key(invoice_id, attempt_number),
        amount=amount,
        currency=currency,
        payment_method=payment_method,
        status=AttemptStatus.PENDING,
        created_at=created_at,
        lease_until=datetime.now(UTC) + LEASE,
        on_session=on_session,
    )


def _attempt(row: RowMapping) -> Attempt:
    values = {name: row[name] for name in _COLUMNS}
    values["status"] = AttemptStatus(values["status"])
    return Attempt(**values)


def _values(attempt: Attempt) -> dict[str, Any]:
    values = {name: getattr(attempt, name) for name in _COLUMNS}
    values["status"] = attempt.status.value
    return values


async def insert_attempts(session: AsyncSession, attempts: Sequence[Attempt]) -> None:
    await insert_rows(session, _table, [_values(attempt) for attempt in attempts])


async def next_attempt_number(session: AsyncSession, invoice_id: str) -> int:
    counts = await attempt_counts(session, [invoice_id])
    return counts.get(invoice_id, 0) + 1


async def attempt_counts(session: AsyncSession, invoice_ids: Sequence[str]) -> dict[str, int]:
    if not invoice_ids:
        return {}
    rows = await session.execute(
        select(_table.c.invoice_id, func.count())
        .where(_table.c.invoice_id.in_(list(invoice_ids)))
        .group_by(_table.c.invoice_id)
    )
    return {invoice_id: int(count) for invoice_id, count in rows.all()}


async def load_pending(
    session: AsyncSession, attempt_ids: Sequence[str], *, for_update: bool
) -> list[Attempt]:
    if not attempt_ids:
        return []
    statement = (
        select(_table)
        .where(_table.c.id.in_(list(attempt_ids)), _table.c.status == AttemptStatus.PENDING.value)
        .order_by(_table.c.id)
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    return [_attempt(row) for row in (await session.execute(statement)).mappings().all()]


async def load_open(
    session: AsyncSession, attempt_ids: Sequence[str], *, for_update: bool
) -> list[Attempt]:
    """Attempts still waiting for an outcome (pending, or an on-session one waiting for the
    customer's authentication), locked when asked: what an outcome may still be recorded on."""
    if not attempt_ids:
        return []
    statement = (
        select(_table)
        .where(
            _table.c.id.in_(list(attempt_ids)),
            _table.c.status.in_([status.value for status in OPEN_STATUSES]),
        )
        .order_by(_table.c.id)
    )
    if for_update and is_postgres(session):
        statement = statement.with_for_update()
    return [_attempt(row) for row in (await session.execute(statement)).mappings().all()]


async def awaiting_action(session: AsyncSession, invoice_id: str) -> Attempt | None:
    """The invoice's attempt waiting for the customer's authentication, if any."""
    row = (
        (
            await session.execute(
                select(_table)
                .where(
                    _table.c.invoice_id == invoice_id,
                    _table.c.status == AttemptStatus.REQUIRES_ACTION.value,
                )
                .order_by(_table.c.attempt_number.desc())
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _attempt(row)


async def for_invoice(session: AsyncSession, invoice_id: str) -> list[Attempt]:
    """Every attempt at an invoice, oldest first."""
    rows = await session.execute(
        select(_table)
        .where(_table.c.invoice_id == invoice_id)
        .order_by(_table.c.attempt_number, _table.c.id)
    )
    return [_attempt(row) for row in rows.mappings().all()]


async def pending_invoices(session: AsyncSession, invoice_ids: Sequence[str]) -> set[str]:
    """Which of ``invoice_ids`` have an attempt in flight."""
    if not invoice_ids:
        return set()
    rows = await session.scalars(
        select(_table.c.invoice_id).where(
            _table.c.invoice_id.in_(list(invoice_ids)),
            _table.c.status == AttemptStatus.PENDING.value,
        )
    )
    return set(rows.all())


async def claim_stale(session: AsyncSession, *, wall_now: datetime, limit: int) -> list[str]:
    """Take over pending attempts whose caller let the lease run out (it probably crashed)."""
    statement = (
        select(_table.c.id)
        .where(_table.c.status == AttemptStatus.PENDING.value, _table.c.lease_until < wall_now)
        .order_by(_table.c.lease_until)
        .limit(limit)
    )
    if is_postgres(session):
        statement = statement.with_for_update(skip_locked=True)
    ids = list((await session.scalars(statement)).all())
    if ids:
        await session.execute(
            update(_table).where(_table.c.id.in_(ids)).values(lease_until=wall_now + LEASE)
        )
    return ids


_OUTCOME = (
    "status",
    "decline_code",
    "failure_message",
    "retryable",
    "provider_charge_id",
    "completed_at",
)


async def save_outcomes(session: AsyncSession, attempts: Iterable[Attempt]) -> None:
    """Store outcomes; callers hold the attempts' row locks (see :func:`load_pending`)."""
    rows = []
    for attempt in attempts:
        values = _values(attempt)
        rows.append({"id": attempt.id, **{name: values[name] for name in _OUTCOME}})
    await update_rows(session, _table, "id", rows)


async def by_key(session: AsyncSession, key: str) -> Attempt | None:
    """The attempt with this idempotency key (a provider's webhook names it)."""
    row = (await session.execute(select(_table).where(_table.c.idempotency_key == key))).mappings()
    found = row.first()
    return None if found is None else _attempt(found)


async def by_charge(session: AsyncSession, charge_id: str) -> Attempt | None:
    """The successful attempt whose provider charge is ``charge_id`` (PaymentIntent id,
    pspReference): what a provider's refund or dispute event refers to."""
    row = (
        (
            await session.execute(
                select(_table).where(
                    _table.c.provider_charge_id == charge_id,
                    _table.c.status == AttemptStatus.SUCCEEDED.value,
                )
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _attempt(row)


async def succeeded_charge(session: AsyncSession, invoice_id: str) -> Attempt | None:
    """The attempt that paid ``invoice_id`` (at most one, by a unique index)."""
    row = (
        (
            await session.execute(
                select(_table).where(
                    _table.c.invoice_id == invoice_id,
                    _table.c.status == AttemptStatus.SUCCEEDED.value,
                )
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _attempt(row)
